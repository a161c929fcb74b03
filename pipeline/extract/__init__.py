"""The text stage: an article's body from its page, where the feed gave a teaser."""
