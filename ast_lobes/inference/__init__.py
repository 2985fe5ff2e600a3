"""Fast inference: the precision modes (``modes.py``), what the hardware
runs fast (``hardware.py``), the speed probe (``probe.py``), the one
decision of a mode (``decision.py``), an encoder converted for a mode
(``precision.py``, with the bf16 attention and int8 layers of
``kernels.py``), ONNX Runtime's int8 backend (``onnx_runtime.py``), token
merging (``token_merging.py``) and the agreement records a model folder
keeps (``agreement.py``).

It sits on the model layer (it converts an encoder; the encoder, head and
pipeline import none of it); the Brain and the pretrained interfaces use
it. Importing the package loads nothing: ``ast-tag --help`` lists the
modes (``modes.py``) without torch.
"""
