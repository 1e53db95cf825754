"""Property-based fuzz of the other input files (issue 19, item 11): a patient's dosimetry dataset (YAML and its CSV
table), an S-value table, ClinicalTrials.gov records to import into the registry, a calibration file and the
economic inputs. Each mutated file is read (and, for a few hundred datasets, its curves fitted, as ``rptici tia``
does) or refused with one clean InputError line."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given
from hypothesis import strategies as st

from fuzz_inputs import EXAMPLES, example, fuzz_settings, loads_or_refuses, mutated, values, yaml_text
from rptici.dosimetry import SValueTable, read_measurements
from rptici.economics import load_inputs
from rptici.trials.clinicaltrials_gov import read_studies
from rptici.trials.scenario import load_calibration

CSV_ROWS = [row for row in csv.reader((EXAMPLES / "lu177_dotatate_patient.csv").read_text().splitlines())
            if row and not row[0].startswith("#")][:12]
PATIENT = {**example("lu177_dotatate_patient.yaml"), "measurements": "measurements.csv"}
INLINE_PATIENT = {"patient": "inline", "nuclide": "Lu-177", "administered_activity": "7.4 GBq", "risk_factors": ["renal"],
                  "regions": {"kidneys": {"mass": "310 g", "tissue": "kidney", "times": ["4 h", "24 h", "96 h"],
                                          "activities": ["160 MBq", "130 MBq", "60 MBq"]},
                              "lesion": {"volume": "12 mL", "times": ["1 d", "3 d", "7 d"],
                                         "activities": ["20 MBq", "15 MBq", "6 MBq"]}}}
S_VALUE_ROWS = [row for row in csv.reader((EXAMPLES / "s_values_example.csv").read_text().splitlines())
                if row and not row[0].startswith("#")]
STUDY = json.loads((EXAMPLES.parent / "tests" / "data" / "clinicaltrials_gov_example.json").read_text())
CALIBRATION = {"parameters": {"alpha_scale": {"value": 1.2, "unit": "1", "source": "fit"},
                              "doubling_time_days.mcrpc": {"value": 120.0}, "immunity.kill_rate": 0.05}}


def csv_text(rows: list) -> str:
    handle = io.StringIO()
    csv.writer(handle).writerows([[str(cell) for cell in row] if isinstance(row, list) else [str(row)]
                                  for row in rows])
    return handle.getvalue()


def write(folder, name: str, content: str | bytes):
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return path


contents = st.one_of(st.binary(max_size=40), st.sampled_from([b"\xff\xfe\x00", b"a,b\x00,c\n", b"", b"\n\n", b"#"]))


@fuzz_settings(900)
@given(patient=st.sampled_from([PATIENT, INLINE_PATIENT]).flatmap(mutated),
       table=st.one_of(st.just(CSV_ROWS).flatmap(lambda rows: mutated({"rows": rows}).map(lambda doc: doc.get("rows"))),
                       contents),
       suffix=st.sampled_from([".yaml", ".yaml", ".csv", ".txt", ".json"]))
def test_fuzzed_dosimetry_datasets_are_read_or_refused_cleanly(tmp_path_factory, patient, table, suffix):
    folder = tmp_path_factory.getbasetemp()
    table_content = table if isinstance(table, bytes) else csv_text(table if isinstance(table, list) else [table])
    write(folder, "measurements.csv", table_content)
    path = write(folder, f"patient{suffix}", yaml_text(patient) if suffix == ".yaml" else table_content)
    loads_or_refuses(lambda: read_measurements(path))


@fuzz_settings(150)
@given(patient=st.just(INLINE_PATIENT).flatmap(mutated), model=st.sampled_from(["auto", "mono", "bi_uptake", "trapezoid"]))
def test_fuzzed_dosimetry_curves_are_fitted_or_refused_cleanly(tmp_path_factory, patient, model):
    path = write(tmp_path_factory.getbasetemp(), "fitted.yaml", yaml_text(patient))
    measurements = loads_or_refuses(lambda: read_measurements(path))
    if measurements is not None:
        loads_or_refuses(lambda: measurements.fit(model))


@fuzz_settings(400)
@given(table=st.one_of(st.just(S_VALUE_ROWS).flatmap(lambda rows: mutated({"rows": rows}).map(lambda doc: doc.get("rows"))),
                       contents))
def test_fuzzed_s_value_tables_are_read_or_refused_cleanly(tmp_path_factory, table):
    content = table if isinstance(table, bytes) else csv_text(table if isinstance(table, list) else [table])
    path = write(tmp_path_factory.getbasetemp(), "s_values.csv", content)
    loads_or_refuses(lambda: SValueTable.from_csv(path))


@fuzz_settings(400)
@given(document=st.one_of(st.just(STUDY).flatmap(mutated), values), raw=st.one_of(st.none(), contents))
def test_fuzzed_clinicaltrials_gov_records_are_read_or_refused_cleanly(tmp_path_factory, document, raw):
    text = raw if raw is not None else json.dumps(document, default=str).encode()
    path = write(tmp_path_factory.getbasetemp(), "studies.json", text)
    loads_or_refuses(lambda: read_studies(path))


@fuzz_settings(300)
@given(document=st.one_of(st.just(CALIBRATION).flatmap(mutated), values), raw=st.one_of(st.none(), contents))
def test_fuzzed_calibration_files_are_read_or_refused_cleanly(tmp_path_factory, document, raw):
    path = write(tmp_path_factory.getbasetemp(), "calibration.yaml", raw if raw is not None else yaml_text(document))
    loads_or_refuses(lambda: load_calibration(path))


@fuzz_settings(300)
@given(document=st.just("economics/lu_psma_pembrolizumab_us.yaml").map(lambda name: __import__(
    "rptici.data", fromlist=["load_yaml"]).load_yaml(name)).flatmap(mutated), raw=st.one_of(st.none(), contents))
def test_fuzzed_economic_inputs_are_read_or_refused_cleanly(tmp_path_factory, document, raw):
    path = write(tmp_path_factory.getbasetemp(), "costs.yaml", raw if raw is not None else yaml_text(document))
    loads_or_refuses(lambda: load_inputs(str(path)))
