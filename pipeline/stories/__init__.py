"""Stage 3, stories: from a window of embedded articles to story rows and their history.

``stage`` loads the window and the stories it may continue, ``clustering`` groups the
articles, ``plan`` decides the story changes (``tracking`` matches clusters to stories,
``history`` names what happened, ``keywords`` labels them), and ``stage`` writes the plan.
``status`` holds the values a story's and a run's status take.
"""
