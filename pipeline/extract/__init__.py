"""The extract stage: an article's text from its page when its feed gives only a teaser."""
