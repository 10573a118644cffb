"""`tawa catalog …` and `tawa gas pricing --file`: output, --json and exit codes, no cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"


def tawa(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tawa.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, env={"PATH": "/usr/bin:/bin", "KUBECONFIG": "/nonexistent"},
                          timeout=60)  # a command that should refuse must not start serving


def test_validate_ok_and_every_problem_one_line_each(tmp_path: Path) -> None:
    ok = tawa("catalog", "validate", str(EXAMPLES / "docman.yaml"))
    assert ok.returncode == 0 and "valid (docman, owner insureco, tier small)" in ok.stdout
    bad = tmp_path / "catalog-info.yaml"
    bad.write_text("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: Doc\n"
                   "spec:\n  owner: x\n  routes:\n    - {path: /a, gas: -1}\n"
                   "  dependencies:\n    - {service: y, transport: bus}\n")
    result = tawa("catalog", "validate", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("catalog-info.yaml: metadata.name: must be a DNS-1035 label") for line in lines)
    assert any("spec.routes[0].gas: must be at least 0 (got -1)" in line for line in lines)
    assert any("spec.dependencies[0].transport" in line for line in lines)
    assert lines[-1] == "error: catalog-info.yaml: 3 problems"
    as_json = json.loads(tawa("catalog", "validate", "--json", cwd=tmp_path).stdout)
    assert as_json["valid"] is False and len(as_json["problems"]) == 3


def test_env_lines_sorted_and_json() -> None:
    result = tawa("catalog", "env", str(EXAMPLES / "quoter.yaml"), "--env", "prod")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "DOCMAN_URL=http://janus.janus-prod.svc.cluster.local:3000/proxy/docman",
        "RATERSPOT_URL=http://janus.janus-prod.svc.cluster.local:3000/proxy/raterspot",
        "RELAY_URL=http://relay.relay-prod.svc.cluster.local:3000"]
    as_json = json.loads(tawa("catalog", "env", str(EXAMPLES / "quoter.yaml"), "--env", "dev", "--json").stdout)
    assert as_json["RELAY_URL"] == "http://relay.relay-dev.svc.cluster.local:3000"


def test_render_gives_an_applicable_component() -> None:
    import yaml

    result = tawa("catalog", "render", str(EXAMPLES / "docman.yaml"), "--image", "reg/docman:1.4.2", "--env", "prod")
    doc = yaml.safe_load(result.stdout)
    assert doc["apiVersion"] == "tawa.insureco.io/v1" and doc["kind"] == "Component"
    assert doc["metadata"] == {"name": "docman", "namespace": "docman-prod", "annotations": {
        "insureco.io/framework": "express", "insureco.io/pod-tier": "small"}}
    assert doc["spec"]["image"] == "reg/docman:1.4.2" and doc["spec"]["owner"] == "insureco"
    assert tawa("catalog", "render", str(EXAMPLES / "docman.yaml"), "--env", "prod").returncode == 2  # no --image


def test_gas_pricing_json_contract() -> None:
    result = tawa("gas", "pricing", "--file", str(EXAMPLES / "docman.yaml"), "--json")
    report = json.loads(result.stdout)
    assert report["hosting"] == {"tier": "small", "replicas": 1, "tokensPerHour": 10, "tokensPerMonth": 7_300,
                                 "reserve": 21_900}
    assert [(r["path"], r["gas"], r["source"]) for r in report["routes"]] == [
        ("/templates/pdf", 1, "route"), ("/templates/html", 1, "route"), ("/documents", 5, "route"),
        ("/operations", 3, "route"), ("/d", 0, "route")]


def test_gas_pricing_reads_catalog_info_in_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "catalog-info.yaml").write_text((EXAMPLES / "raterspot.yaml").read_text())
    result = tawa("gas", "pricing", cwd=tmp_path)
    assert result.returncode == 0 and "raterspot: tier nano" in result.stdout


def test_cluster_options_without_a_cluster_fail_clearly() -> None:
    result = tawa("gas", "pricing", "--all")
    assert result.returncode == 2 and "set KUBECONFIG or run `tawa dev up`" in result.stderr
    both = tawa("gas", "pricing", "--all", "--service", "x")
    assert both.returncode == 2 and "choose one of --file, --service and --all" in both.stderr


def test_missing_file_is_bad_input() -> None:
    result = tawa("catalog", "validate", "/nonexistent.yaml")
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.parametrize("command, fix", [
    (("gas", "pricing"), "`tawa gas pricing --file PATH`"),
    (("catalog", "validate"), "`tawa catalog validate PATH`"),
    (("catalog", "validate", "--json"), "`tawa catalog validate PATH`"),
    (("catalog", "env"), "`tawa catalog env PATH`"),
    (("catalog", "render", "--image", "reg/x:1"), "`tawa catalog render PATH`"),
    (("deploy", "--image", "reg/x:1", "--dry-run"), "`tawa deploy PATH`"),
])
def test_no_catalog_info_in_the_folder_is_one_line_naming_the_file_and_the_fix(
        tmp_path: Path, command: tuple[str, ...], fix: str) -> None:
    result = tawa(*command, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"error: catalog-info.yaml: does not exist in {tmp_path}; run this in the service's "
                             f"folder or name its catalog-info.yaml: {fix}\n")


def test_unreadable_files_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe")
    (tmp_path / "prices.yaml").write_text(": [\n")
    cases = {("gas", "pricing", "--file", str(tmp_path)): "is a folder; name the catalog-info.yaml in it",
             ("gas", "pricing", "--file", "binary.yaml"): "binary.yaml: is not UTF-8 text",
             ("gas", "pricing", "--file", "nowhere.yaml"): "nowhere.yaml: does not exist; check the path",
             ("gas", "pricing", "--file", str(EXAMPLES / "docman.yaml"), "--platform-prices", "prices.yaml"):
                 "--platform-prices prices.yaml: not a platform price table"}
    for command, message in cases.items():
        result = tawa(*command, cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert message in result.stderr
    config_is_a_folder = subprocess.run([sys.executable, "-m", "tawa.cli.main", "catalog", "validate"],
                                        capture_output=True, text=True, cwd=tmp_path,
                                        env={"PATH": "/usr/bin:/bin", "TAWA_CONFIG": str(tmp_path)})
    assert config_is_a_folder.returncode == 2
    assert config_is_a_folder.stderr == f"error: {tmp_path}: cannot be read (Is a directory); point TAWA_CONFIG " \
                                        "at a YAML file\n"


def test_config_file_fills_in_what_flags_and_environment_leave_open(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("env: staging\n")
    base = {"PATH": "/usr/bin:/bin", "TAWA_CONFIG": str(config)}
    run = lambda *a, **env: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "tawa.cli.main", "catalog", "env", str(EXAMPLES / "quoter.yaml"), *a],
        capture_output=True, text=True, env={**base, **env}).stdout
    assert "relay-staging" in run()
    assert "relay-dev" in run(TAWA_ENV="dev")
    assert "relay-prod" in run("--env", "prod", TAWA_ENV="dev")


def test_bad_config_file_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("wallet_url: http://x\n")
    result = subprocess.run([sys.executable, "-m", "tawa.cli.main", "catalog", "validate",
                             str(EXAMPLES / "docman.yaml")], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "TAWA_CONFIG": str(config)})
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {config}: unknown setting 'wallet_url'; known: wallet-url, "
                                      "wallet-token, janus-url, env, kubeconfig, data-dir")


def test_shell_completion_is_available() -> None:
    tawa_script = Path(sys.executable).parent / "tawa"  # the console script, as a shell runs it
    result = subprocess.run([str(tawa_script)], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "_TAWA_COMPLETE": "bash_source"})
    assert "complete -o nosort -F _tawa_completion tawa" in result.stdout


def test_status_rows_burn_at_the_tier_the_pods_run_not_the_one_asked_for() -> None:
    from tawa.gas.report import component_row

    changing = {"metadata": {"namespace": "docman-prod", "name": "docman"},
                "status": {"tier": "medium", "runningTier": "small", "readyReplicas": 2, "ready": "2/2"}}
    assert component_row(changing)["tokensPerHour"] == 2 * 10  # small: 10 tokens/hour each
    settled = {**changing, "status": {"tier": "medium", "readyReplicas": 2, "ready": "2/2"}}
    assert component_row(settled)["tokensPerHour"] == 2 * 23  # medium


def test_janus_refuses_to_start_on_a_registry_file_that_is_not_yaml(tmp_path: Path) -> None:
    registry = tmp_path / "components.yaml"
    registry.write_text("kind: Component\nmetadata: {name: docman\n")  # an unclosed flow mapping
    result = tawa("janus", "serve", "--registry", str(registry), "--port", "0")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "components.yaml is not valid YAML" in result.stderr
