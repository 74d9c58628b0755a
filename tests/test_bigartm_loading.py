"""Given a fresh Python process, BigARTM loads only where training needs it, or says why not."""

from __future__ import annotations

import subprocess
import sys

from core.settings import REPO_ROOT
from tests.browser import web_environment


def run_python(code: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=web_environment(**environment),
        capture_output=True,
        text=True,
    )


def test_serving_modules_do_not_import_bigartm_or_choose_a_protobuf():
    result = run_python(
        "import sys, os\n"
        "import core, core.serving.model, core.serving.inference, core.serving.engine, "
        "core.serving.service, core.serving.explain\n"
        "assert 'artm' not in sys.modules, 'artm was imported'\n"
        "assert 'PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION' not in os.environ\n"
    )
    assert result.returncode == 0, result.stderr


def test_training_module_loads_bigartm_in_a_fresh_process():
    result = run_python("import core.building.topic_model, sys; assert 'artm' in sys.modules")
    assert result.returncode == 0, result.stderr


def test_bigartm_refuses_a_process_running_the_fast_protobuf():
    result = run_python(
        "import google.protobuf.message\nimport core.building.topic_model",
        PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="upb",
    )
    assert result.returncode == 1
    assert "BigARTM needs the pure-Python protobuf" in result.stderr


def test_bigartm_refuses_to_load_after_tensorflow_instead_of_aborting():
    result = run_python("import tensorflow\nimport core.building.topic_model")
    assert result.returncode == 1
    assert "BigARTM cannot be loaded after TensorFlow" in result.stderr
