"""People, places and organisations named in articles, and the stories that name them.

``model`` loads the spaCy pipeline (its named-entity recogniser only, once per process);
``mentions`` turns an article's title and text into cleaned mentions of three kinds;
``names`` folds names into keys and resolves a short name to its full one, within an
article and across articles; ``stage`` tags the articles whose text changed and stores them.
"""
