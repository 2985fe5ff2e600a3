"""Audio Spectrogram Transformer lobes and inference for SpeechBrain."""

import re

from setuptools import find_packages, setup


def package_version():
    """``__version__`` of ast_lobes/__init__.py, read as text."""
    with open("ast_lobes/__init__.py", encoding="utf-8") as handle:
        return re.search(r'__version__ = "([^"]+)"', handle.read())[1]


# Ranges from the oldest version tested to the next major one: the lower
# bounds are constraints-oldest.txt where it names the package, else the
# known-good set of constraints.txt (scripts/venv.sh installs that one).
# PyPI's torchaudio wheels only load with the torch they were built
# against: torch, torchaudio and torchvision move together.
# ONNX Runtime's int8 (precision ort-int8, which auto probes) and the ONNX
# export: in the default install (the extra "onnx" names them too).
ONNX_REQUIRES = [
    "onnx>=1.23.2,<2",
    "onnxscript>=0.7.2,<0.8",
    "onnxruntime>=1.32.0,<2",
]
INSTALL_REQUIRES = [
    "torch>=2.9.1,<3",
    "torchaudio>=2.9.1,<3",
    "torchvision>=0.24.1,<1",
    "speechbrain>=1.1.0,<2",
    "hyperpyyaml>=1.2.3,<2",
    "timm>=1.0.31,<2",
    "sentencepiece>=0.2.3,<0.3",
    "numpy>=1.26.4,<3",
    "scipy>=1.17.1,<2",
    "scikit-learn>=1.9.1,<2",
    "soundfile>=0.14.0,<0.15",
    "safetensors>=0.8.0,<0.9",
    "huggingface_hub>=2.4.0,<3",
    "tqdm>=4.70.1,<5",
    "torchao>=0.14.1,<0.19",
    "matplotlib>=3.11.2,<4",
    "webdataset>=1.0.2,<2",
    "braceexpand>=0.1.7,<0.2",
    *ONNX_REQUIRES,
]
# Sound event scores (ast_lobes.training.evaluation.event_metrics):
# sed_eval reads its event lists with dcase_util, which still imports
# pkg_resources (setuptools before 81).
EVENTS_REQUIRES = [
    "sed_eval>=0.2.1,<0.3",
    "dcase_util>=0.2.20,<0.3",
    "setuptools>=80.10.2,<81",
]
TEST_REQUIRES = [
    "transformers>=5.23.0,<6",
    "pytest>=9.2.0,<10",
    "pytest-xdist>=3.8.0,<4",
    "hypothesis>=6.170.27,<7",
    "ruff>=0.17.6,<0.18",
    "yamllint>=1.38.0,<2",
    "import-linter>=2.16,<3",
    "sphinx>=9.0.4,<10",
    "myst-parser>=5.2.0,<6",
    *EVENTS_REQUIRES,
]

setup(
    name="ast-lobes",
    version=package_version(),
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
