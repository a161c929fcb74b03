"""Stage 2, embed: one vector per article for the configured model.

``stage`` finds the articles without a vector and writes theirs; ``backends`` holds the
models that compute them behind one interface (``Embedder``): ``pytorch`` runs the
sentence-transformers model, ``onnx_int8`` its ONNX export, both loaded by ``sentence_model``.
"""
