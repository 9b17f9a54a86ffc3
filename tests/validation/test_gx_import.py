"""Great Expectations imported without scipy.stats and altair: they load when an expectation
uses them, and everything GX does with them still works. Run in a fresh interpreter, since the
deferral only applies to the first import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_deferred_modules_load_on_first_use() -> None:
    out = _run(
        """
        import gc, sys
        from lgsp.validation import gx
        gx.load()
        print(type(sys.modules["scipy.stats"]).__name__, type(sys.modules["altair"]).__name__, gc.isenabled())
        from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl
        print(round(float(kl.stats.entropy([0.5, 0.5], [0.9, 0.1])), 4))  # GX's own reference
        print(type(sys.modules["scipy.stats"]).__name__, kl.alt.Chart.__name__)
        """
    )
    assert out.split() == ["_Deferred", "_Deferred", "True", "0.5108", "module", "Chart"]


def test_a_distribution_expectation_runs_through_the_deferred_scipy() -> None:
    out = _run(
        """
        import pandas as pd
        from lgsp.validation import gx
        g = gx.load()
        context = g.get_context(mode="ephemeral")
        batch = context.data_sources.add_pandas("p").add_dataframe_asset("a").add_batch_definition_whole_dataframe("b")
        frame = pd.DataFrame({"x": ["a"] * 50 + ["b"] * 50})
        expectation = g.expectations.ExpectColumnKLDivergenceToBeLessThan(
            column="x", partition_object={"values": ["a", "b"], "weights": [0.5, 0.5]}, threshold=0.1
        )
        result = batch.get_batch(batch_parameters={"dataframe": frame}).validate(expectation)
        print(result.success, result.exception_info.get("raised_exception"))
        """
    )
    assert out.split() == ["True", "False"]


def test_gc_stays_off_if_the_caller_had_it_off() -> None:
    out = _run(
        """
        import gc
        gc.disable()
        from lgsp.validation import gx
        gx.load()
        print(gc.isenabled())
        """
    )
    assert out.split() == ["False"]
