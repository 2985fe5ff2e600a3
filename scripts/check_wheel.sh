#!/usr/bin/env bash
# Builds the package as a wheel and an sdist and checks the wheel installed
# into a fresh environment, outside the checkout: `import ast_lobes`,
# `ast-tag --help`, an exported model folder written and read back, and the
# bundled AudioSet label names found. The dependencies come from the
# project's .venv (added to the fresh environment's path, without its
# editable install of the checkout) so that nothing is downloaded again.
# Run by run_tests.sh after the tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# built from a copy, so that nothing is written into the checkout
mkdir "$WORK/src"
(cd "$ROOT" && git ls-files -z | xargs -0 tar -cf - 2> /dev/null) \
  | tar -xf - -C "$WORK/src"
python -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/dist" \
  "$WORK/src"
(cd "$WORK/src" && python setup.py -q sdist -d "$WORK/dist" > /dev/null 2>&1)
ls "$WORK"/dist/ast_lobes-*.whl "$WORK"/dist/ast_lobes-*.tar.gz > /dev/null
python -m venv --without-pip "$WORK/env"
SITE="$("$WORK/env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
DEPS="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
python -m pip --python "$WORK/env/bin/python" install -q --no-deps \
  "$WORK"/dist/ast_lobes-*.whl
echo "$DEPS" > "$SITE/project_dependencies.pth"
cd "$WORK"
"$WORK/env/bin/ast-tag" --help > /dev/null
"$WORK/env/bin/python" - "$ROOT" <<'PY'
import os
import sys
import tempfile

root = os.path.realpath(sys.argv[1])
import ast_lobes  # noqa: E402

where = os.path.realpath(ast_lobes.__file__)
assert not where.startswith(root), f"imported from the checkout: {where}"
import torch  # noqa: E402
from speechbrain.dataio.encoder import CategoricalEncoder  # noqa: E402

from ast_lobes.weights.labels import audioset_label_names  # noqa: E402
from pretrained_interfaces import AudioTagger  # noqa: E402

assert len(audioset_label_names()) == 527  # the bundled resource
from hyperpyyaml import load_hyperpyyaml  # noqa: E402

recipe = os.path.join(root, "recipes", "AudioFolder", "hparams", "cpu.yaml")
with open(recipe, encoding="utf-8") as handle:  # the YAML a user copies
    hparams = load_hyperpyyaml(handle)
assert type(hparams["encoder"]).__name__ == "AudioSpectrogramTransformer"
pipeline = ast_lobes.AudioClassificationPipeline(
    ast_lobes.KaldiFbank(target_length=100),
    ast_lobes.FbankNormalization("audioset"),
    ast_lobes.AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=1, num_heads=2, target_length=100
    ),
    ast_lobes.AudioClassificationHead(32, 2),
).eval()
labels = CategoricalEncoder()
labels.update_from_iterable(["a", "b"])
folder = tempfile.mkdtemp()
ast_lobes.export_classifier(folder, pipeline, labels)
tagger = AudioTagger.from_source(folder, precision="fp32")
assert tagger.scores_batch(torch.randn(1, 16000)).shape == (1, 2)
print(f"wheel check: ast_lobes from {where}; ast-tag --help, a recipe "
      "YAML, an export and the tagger work")
PY
