"""The OpenBLAS core-type lever: set only on AVX-512 CPUs, before NumPy loads, never over the
user's choice.  These tests never let a process load NumPy with an AVX-512 core type: the
machine running them may lack AVX-512 (it would die of SIGILL)."""
import json
import os
import subprocess
import sys

import pytest

from shenjing import _cpu_tuning as ct

AVX512 = "avx512f avx512cd avx512bw avx512dq avx512vl"


def cpuinfo(flags, vendor="AuthenticAMD"):
    return (f"processor\t: 0\nvendor_id\t: {vendor}\nmodel name\t: Test CPU\n"
            f"flags\t\t: fpu sse sse2 avx avx2 fma {flags}\n")


@pytest.mark.parametrize(("flags", "vendor", "expected"), [
    (AVX512, "AuthenticAMD", "SkylakeX"),                      # Zen 4/5
    (AVX512 + " avx512_bf16 avx512vnni", "AuthenticAMD", "SkylakeX"),
    ("", "AuthenticAMD", None),                                # AVX2 only: this machine's kind
    ("avx512f avx512cd avx512vl", "AuthenticAMD", None),        # partial: bw, dq missing
    (AVX512, "GenuineIntel", None),                            # OpenBLAS knows Intel's
])
def test_decision_follows_the_cpu_flags(flags, vendor, expected):
    d = ct.decide(cpuinfo(flags, vendor), {}, numpy_loaded=False)
    assert d.coretype == expected
    if flags == "avx512f avx512cd avx512vl":
        assert "avx512bw" in d.reason and "avx512dq" in d.reason


def test_user_setting_is_kept_and_opt_out_is_honoured():
    text = cpuinfo(AVX512)
    assert ct.decide(text, {"OPENBLAS_CORETYPE": "Zen"}, False).coretype is None
    assert "kept" in ct.decide(text, {"OPENBLAS_CORETYPE": "Zen"}, False).reason
    for off in ("0", "off", "OFF", "false", "no"):
        d = ct.decide(text, {"SHENJING_OPENBLAS_CORETYPE": off}, False)
        assert d.coretype is None and "opted out" in d.reason


def test_explicit_core_type_is_used_but_never_an_avx512_one_without_avx512():
    assert ct.decide(cpuinfo(""), {"SHENJING_OPENBLAS_CORETYPE": "Haswell"}, False).coretype \
        == "Haswell"
    assert ct.decide(cpuinfo(AVX512), {"SHENJING_OPENBLAS_CORETYPE": "Zen"}, False).coretype \
        == "Zen"
    d = ct.decide(cpuinfo(""), {"SHENJING_OPENBLAS_CORETYPE": "SkylakeX"}, False)
    assert d.coretype is None and "SIGILL" in d.reason


def test_numpy_already_imported_is_a_no_op():
    env = {}
    d = ct.apply(env, cpuinfo=cpuinfo(AVX512))  # this test process has NumPy loaded
    assert d.coretype is None and "NumPy was imported" in d.reason
    assert env == {} and ct.LAST_DECISION == d


def test_no_cpuinfo_and_broken_input_never_raise(tmp_path):
    assert ct.read_cpuinfo(str(tmp_path / "missing")) == ""
    assert ct.decide("", {}, False).coretype is None

    class Broken(dict):
        def get(self, *args):
            raise RuntimeError("boom")

    d = ct.apply(Broken())  # it runs at import: a failure is reported, never raised
    assert d.coretype is None and "boom" in d.reason


def test_reads_only_the_first_processor_block(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo(AVX512) + "\n" + cpuinfo("") + "\n")
    assert set(AVX512.split()) <= ct.cpu_flags(ct.read_cpuinfo(str(path)))


def _fresh_process(code, env):
    """Run ``code`` with _cpu_tuning loaded from its file, NumPy not imported."""
    path = os.path.abspath(ct.__file__)
    prog = ("import importlib.util, json, os, sys\n"
            f"spec = importlib.util.spec_from_file_location('ct', {path!r})\n"
            "ct = importlib.util.module_from_spec(spec); spec.loader.exec_module(ct)\n" + code)
    out = subprocess.run([sys.executable, "-c", prog], env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    return json.loads(out.stdout)


def test_applied_before_numpy_in_a_fresh_process():
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "SHENJING_OPENBLAS_CORETYPE")}
    code = (f"d = ct.apply(cpuinfo={cpuinfo(AVX512)!r})\n"
            "print(json.dumps([d.coretype, os.environ.get('OPENBLAS_CORETYPE'), "
            "'numpy' in sys.modules]))\n")  # exits without loading NumPy
    assert _fresh_process(code, env) == ["SkylakeX", "SkylakeX", False]
    env["SHENJING_OPENBLAS_CORETYPE"] = "off"
    assert _fresh_process(code, env) == [None, None, False]


def test_this_machine_gets_it_only_with_avx512():
    """The real check on the real CPU (in a fresh process, NumPy never loaded there)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "SHENJING_OPENBLAS_CORETYPE")}
    code = ("d = ct.apply()\n"
            "print(json.dumps([d.coretype, sorted(ct.cpu_flags(ct.read_cpuinfo()))]))\n")
    coretype, flags = _fresh_process(code, env)
    info = ct.read_cpuinfo()
    has_all = set(ct.AVX512_FLAGS) <= set(flags)
    if not has_all or ct.cpu_vendor(info) == "GenuineIntel" or not flags:
        assert coretype is None
    else:
        assert coretype == "SkylakeX"


def test_env_report_names_the_kernels_and_the_decision(capsys):
    from shenjing.cli.env import env  # noqa: PLC0415

    assert env() == 0
    report = json.loads(capsys.readouterr().out)
    lever = report["openblas_coretype_lever"]
    assert lever["reason"] and report["threads"] >= 1
    assert report["cpu"]["avx512"] == (set(ct.AVX512_FLAGS) <= ct.cpu_flags(ct.read_cpuinfo()))
    if not report["cpu"]["avx512"]:
        assert lever["set_by_shenjing"] is None
    pytest.importorskip("threadpoolctl")
    assert isinstance(report["blas_kernels_in_use"], str)  # e.g. "Haswell", "SkylakeX"
