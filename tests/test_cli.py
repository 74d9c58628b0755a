"""The command line, as a user runs it: `python -m core ...` in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.settings import REPO_ROOT

COMMANDS = [
    [],
    ["build"],
    ["search"],
    ["annotate"],
    ["topics"],
    ["models"],
    ["models", "list"],
    ["models", "activate"],
    ["models", "drift"],
    ["bench-index"],
    ["bench-drift"],
    ["bench-sample"],
]


def run(args: list[str], settings=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if settings is not None:
        env["TOPICSEARCH_DATA_DIR"] = str(settings.data_dir)
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "core")
def test_every_command_has_help(command):
    result = run([*command, "--help"])
    assert result.returncode == 0 and "usage:" in result.stdout


def test_search_json_has_the_documented_shape(built):
    result = run(["search", "flowers цветы", "-k", "3", "--json"], built.settings)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"model_version", "ranking", "recognized", "unknown", "fit", "results"}
    assert payload["model_version"] == built.report.version_name
    assert "likelihood" in payload["ranking"]
    assert set(payload["fit"]) == {
        "kind",
        "perplexity",
        "share_as_far",
        "weak_beyond",
        "weak",
    }
    assert len(payload["results"]) == 3
    assert set(payload["results"][0]) == {
        "id",
        "text",
        "tags",
        "image",
        "distance",
        "matched",
        "weak",
    }


def test_search_by_photo_with_weights(built):
    photo = built.held_out[0].image
    result = run(
        ["search", "--image", str(photo), "--weights", "@text=1,@visual=0.5", "--json"],
        built.settings,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["results"]) == 10


def test_a_query_with_nothing_recognized_says_so_and_exits_2(built):
    result = run(["search", "zzzqqq", "--json"], built.settings)
    assert result.returncode == 2
    payload = json.loads(result.stdout)
    assert payload["nothing_recognized"] is True and payload["unknown"] == ["zzzqqq"]
    assert payload["results"] == []


def test_bad_weights_are_refused_before_anything_runs(built):
    result = run(["search", "cat", "--weights", "@visual=-1"], built.settings)
    assert result.returncode == 2 and "must be a finite number >= 0" in result.stderr


def test_annotate_json_lists_tokens_with_display_forms_and_probabilities(built):
    photo = built.held_out[1].image
    result = run(
        ["annotate", str(photo), "--modality", "@tag", "--modality", "@text", "-k", "4", "--json"],
        built.settings,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload["annotations"]) == {"@tag", "@text"}
    first = payload["annotations"]["@text"][0]
    assert set(first) == {"token", "display", "p"} and 0 < first["p"] <= 1


def test_annotate_a_file_that_is_not_an_image(built, tmp_path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    result = run(["annotate", str(fake)], built.settings)
    assert result.returncode == 2 and "error:" in result.stderr


def test_topics_and_models_list(built):
    topics = json.loads(run(["topics", "--json"], built.settings).stdout)
    assert topics["model_version"] == built.report.version_name
    assert topics["topics"] and all(t["terms"] for t in topics["topics"])
    models = json.loads(run(["models", "list", "--json"], built.settings).stdout)
    assert [m["active"] for m in models if m["name"] == built.report.version_name] == [True]


def test_activating_an_unknown_version_is_a_clear_error(built):
    result = run(["models", "activate", "v9999"], built.settings)
    assert result.returncode == 2 and "no model version" in result.stderr


def test_commands_without_a_model_say_how_to_build_one(tmp_path):
    from core.settings import Settings

    result = run(["search", "cat"], Settings(data_dir=tmp_path))
    assert result.returncode == 2 and "python -m core build" in result.stderr
