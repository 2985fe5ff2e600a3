"""Audio Spectrogram Transformer lobes and inference for SpeechBrain."""

from setuptools import find_packages, setup

# A known-good set: PyPI's torchaudio wheels are built against the CUDA torch
# wheels, so torch, torchaudio and torchvision are pinned together.
INSTALL_REQUIRES = [
    "torch==2.14.1",
    "torchaudio==2.11.0",
    "torchvision==0.29.1",
    "speechbrain==1.1.2",
    "hyperpyyaml==1.2.3",
    "timm==1.0.31",
    "sentencepiece==0.2.3",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "scikit-learn==1.9.1",
    "soundfile==0.14.0",
    "safetensors==0.8.0",
    "huggingface_hub==2.4.0",
    "tqdm==4.70.1",
    "torchao==0.18.0",
    "matplotlib==3.11.2",
]
ONNX_REQUIRES = [
    "onnx==1.23.2",
    "onnxscript==0.7.2",
    "onnxruntime==1.32.0",
]
# Sound event scores (ast_lobes.training.evaluation.event_metrics):
# sed_eval reads its event lists with dcase_util, which still imports
# pkg_resources (setuptools before 81).
EVENTS_REQUIRES = [
    "sed_eval==0.2.1",
    "dcase_util==0.2.20",
    "setuptools==80.10.2",
]
TEST_REQUIRES = [
    "transformers==5.23.0",
    "pytest==9.2.0",
    "ruff==0.17.6",
    "yamllint==1.38.0",
    "import-linter==2.16",
    *ONNX_REQUIRES,
    *EVENTS_REQUIRES,
]

setup(
    name="ast-lobes",
    version="0.2.0",
    description=(
        "Audio Spectrogram Transformer (Gong et al., 2021) for SpeechBrain: "
        "encoder lobe, checkpoint loaders, recipes and inference"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["ast_lobes*", "pretrained_interfaces*"]),
    package_data={"ast_lobes": ["resources/*.csv"]},
    entry_points={
        "console_scripts": ["ast-tag = pretrained_interfaces.tag_cli:main"]
    },
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": TEST_REQUIRES,
        "onnx": ONNX_REQUIRES,
        "events": EVENTS_REQUIRES,
    },
)
