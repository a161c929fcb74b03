"""Stage 2, embed: one vector per article for the configured model.

``stage`` finds the articles without a vector and writes theirs; ``sentence_model`` loads the
sentence-transformers model (PyTorch), ``onnx_backend`` its ONNX export, behind one interface.
"""
