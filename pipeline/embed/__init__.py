"""Stage 2, embed: one vector per article for the configured model.

``selection`` says which articles need one; ``stage`` embeds them in batches and stores the
vectors; ``backends`` holds the models that compute them behind one interface (``Embedder``):
``pytorch`` runs the sentence-transformers model, ``onnx_int8`` its ONNX export, both loaded
by ``sentence_model``.
"""
