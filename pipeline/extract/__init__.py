"""The text stage's library: the article body of a feed item's linked page, for teaser feeds."""
