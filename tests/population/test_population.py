"""Virtual populations: sampling, patient streams, data-file marginals against trial baselines, selection."""

from __future__ import annotations

import copy
import math
from importlib import resources

import numpy as np
import pytest
import yaml
from scipy import stats

from rptici.errors import InputError, UnknownNameError
from rptici.kinetics.biokinetics import LESION_SITES, Covariates
from rptici.population import (
    METHODS, known_diseases, load_disease, mosteller_bsa, patient_streams, sample_population,
    select_virtual_patients, site_hazard_ratio, sphere_volume_mL,
)
from rptici.population.distributions import parse_disease

DISEASES = ("ccrcc", "dtc", "gep_net", "lung_net", "lymphoma", "mcrpc", "merkel", "neuroblastoma", "nsclc_bone",
            "sclc")
N = 5000


@pytest.fixture(scope="module")
def populations():
    return {disease: sample_population(disease, N, seed=7) for disease in DISEASES}


def _arrays(population):
    return {name: value for name, value in vars(population).items() if isinstance(value, np.ndarray)}


# ------------------------------------------------------------------------------------------ determinism

@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_population_and_different_seed_differs(method):
    first, second = (sample_population("gep_net", 300, 11, method) for _ in range(2))
    other = sample_population("gep_net", 300, 12, method)
    for name, value in _arrays(first).items():
        np.testing.assert_array_equal(value, _arrays(second)[name], err_msg=name)
    assert not np.array_equal(first.weight_kg, other.weight_kg)
    assert not np.allclose(np.nan_to_num(first.lesion_diameters_mm), np.nan_to_num(other.lesion_diameters_mm))


def test_methods_differ_from_each_other():
    lhs, sobol = (sample_population("mcrpc", 256, 3, method) for method in ("lhs", "sobol"))
    assert not np.array_equal(lhs.psa_ng_per_mL, sobol.psa_ng_per_mL)


def test_latin_hypercube_stratifies_each_marginal():
    # Each of the n strata of every uniform holds exactly one patient, so the empirical CDF of age at the
    # marginal's own quantiles is within 1/n of the target: the sample median equals the model median closely.
    population = sample_population("merkel", 1000, 5, "lhs")
    median = load_disease("merkel").marginal("age").median()
    assert np.median(population.age_years) == pytest.approx(median, abs=0.1)


def test_patient_stream_is_the_spawned_child_and_independent_of_chunking():
    seed, total = 2024, 12
    spawned = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(total)]
    whole = patient_streams(seed, 0, total)
    chunked = patient_streams(seed, 0, 5) + patient_streams(seed, 5, 9) + patient_streams(seed, 9, total)
    for reference, a, b in zip(spawned, whole, chunked):
        expected = reference.random(4)
        np.testing.assert_array_equal(a.random(4), expected)
        np.testing.assert_array_equal(b.random(4), expected)
    direct = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,))).random(3)
    np.testing.assert_array_equal(patient_streams(seed, 7, 8)[0].random(3), direct)
    assert patient_streams(seed, 3, 3) == []
    assert not np.array_equal(patient_streams(seed, 0, 1)[0].random(3), patient_streams(seed + 1, 0, 1)[0].random(3))


# ----------------------------------------------------------------------- marginals against the data files

@pytest.mark.parametrize("disease", DISEASES)
def test_sample_medians_match_the_data_file(populations, disease):
    """n = 5000: the fraction of patients below the data file's median is 0.5 ± 0.02 (about 3 binomial SE;
    correlated covariates lose the Latin-hypercube stratification, so plain sampling error is the bound)."""
    spec, population = load_disease(disease), populations[disease]
    columns = {"age": population.age_years, "egfr": population.egfr_mL_per_min_per_1_73m2,
               "target_uptake": population.target_uptake, "infiltration": population.immune_infiltration,
               "alpha": population.alpha_per_Gy, "lymphocytes": population.lymphocytes_1e9_per_L}
    if spec.has_psa:
        columns["psa"] = population.psa_ng_per_mL
    for name, values in columns.items():
        assert np.mean(values < spec.marginal(name).median()) == pytest.approx(0.5, abs=0.02), name
    for sex in ("male", "female"):
        chosen = population.sex == sex
        if chosen.sum() > 500:
            below = np.mean(population.height_cm[chosen] < spec.marginal("height", sex).median())
            assert below == pytest.approx(0.5, abs=3 * 0.5 / math.sqrt(chosen.sum())), sex


def test_mcrpc_matches_vision_and_therap_baselines(populations):
    population = populations["mcrpc"]
    assert np.all(population.sex == "male")
    # VISION median PSA 77.5 ng/mL (Lu-PSMA) and 74.6 (control), TheraP 93.5 (Sartor 2021; Hofman 2021): ±10 %
    assert np.median(population.psa_ng_per_mL) == pytest.approx(77.5, rel=0.10)
    assert 70 <= np.median(population.psa_ng_per_mL) <= 95
    # VISION median age 70.0 (Lu-PSMA) and 71.5 (control); TheraP 72.1: within 1.5 years of 70.75
    assert np.median(population.age_years) == pytest.approx(70.75, abs=1.5)
    # VISION measurable disease 439/581 = 0.756 in the PFS analysis set (ClinicalTrials.gov NCT03511664): ±0.02
    assert population.measurable_disease.mean() == pytest.approx(0.756, abs=0.02)
    # KEYNOTE-199: 133 of 199 measurable patients PD-L1 CPS >= 1 (Antonarakis 2020): 0.67 ± 0.02
    assert (population.pdl1 >= 1).mean() == pytest.approx(133 / 199, abs=0.02)
    assert np.all(population.pdl1[population.pdl1 > 0] >= 1) and np.all(population.pdl1 <= 100)


def test_net_merkel_rcc_match_trial_baselines(populations):
    # NETTER-1 age about 63 (Lu-DOTATATE) and 65 (control) years (Strosberg 2017): within [62, 66]
    assert 62 <= np.median(populations["gep_net"].age_years) <= 66
    merkel = populations["merkel"]
    # JAVELIN Merkel 200 part A (Kaufman 2016): median age 72.5 (± 1.5), 74 % men (± 2 %), PD-L1 >= 1 % in 58/74
    assert np.median(merkel.age_years) == pytest.approx(72.5, abs=1.5)
    assert (merkel.sex == "male").mean() == pytest.approx(0.74, abs=0.02)
    assert (merkel.pdl1 >= 1).mean() == pytest.approx(58 / 74, abs=0.02)
    # ... and 1, 2, >= 3 prior lines in 59 %, 30 %, 11 % (± 2 %)
    for lines, fraction in ((1, 0.59), (2, 0.30), (3, 0.11)):
        assert (merkel.prior_lines == lines).mean() == pytest.approx(fraction, abs=0.02)
    # CheckMate 025 (Motzer 2015): median age 62 (± 1.5); PD-L1 >= 1 % in 24 % (± 2 %)
    assert np.median(populations["ccrcc"].age_years) == pytest.approx(62, abs=1.5)
    assert (populations["ccrcc"].pdl1 >= 1).mean() == pytest.approx(0.24, abs=0.02)


def test_nsclc_with_bone_metastases_matches_keynote_baselines(populations):
    nsclc = populations["nsclc_bone"]
    # KEYNOTE-001 PD-L1 screening, 824 evaluable samples (Garon et al. 2015 N Engl J Med 372:2018): TPS >= 50 % in
    # 23.2 %, 1-49 % in 37.6 %, < 1 % in 39.2 % (each ± 0.02, about 3 binomial SE at n = 5000)
    assert (nsclc.pdl1 < 1).mean() == pytest.approx(0.392, abs=0.02)
    assert ((nsclc.pdl1 >= 1) & (nsclc.pdl1 < 50)).mean() == pytest.approx(0.376, abs=0.02)
    assert (nsclc.pdl1 >= 50).mean() == pytest.approx(0.232, abs=0.02)
    # KEYNOTE-024 (Reck et al. 2016 N Engl J Med 375:1823): median age 64.5 and 66.0 (within 1.5 years of 65.25);
    # men 187 of 305 (± 0.02)
    assert np.median(nsclc.age_years) == pytest.approx(65.25, abs=1.5)
    assert (nsclc.sex == "male").mean() == pytest.approx(187 / 305, abs=0.02)
    # the population stands for patients selected for bone metastases (radium-223): bone is the commonest site
    sites, counts = np.unique(nsclc.lesion_sites[nsclc.lesion_sites != ""], return_counts=True)
    assert sites[np.argmax(counts)] == "bone"


def test_lymphoma_follows_lugano_and_the_radioimmunotherapy_trials(populations):
    lymphoma = populations["lymphoma"]
    # Lugano classification (Cheson et al. 2014 J Clin Oncol 32:3059): at most 6 index lesions, nodes measurable
    # above 15 mm; mostly nodal disease
    assert lymphoma.lesion_count.max() == 6 and lymphoma.lesion_count.min() >= 1
    assert np.nanmin(lymphoma.lesion_diameters_mm) >= 15
    sites = lymphoma.lesion_sites[lymphoma.lesion_sites != ""]
    assert (sites == "node").mean() == pytest.approx(0.75, abs=0.02)
    # median age about 60 in Witzig et al. 2002 J Clin Oncol 20:2453 and Kaminski et al. 2001 J Clin Oncol 19:3918
    assert np.median(lymphoma.age_years) == pytest.approx(60, abs=2)
    assert load_disease("lymphoma").target.agent == "[90Y]Y-ibritumomab tiuxetan"


def test_the_site_of_mcrpc_sets_the_death_hazard_ratio(populations):
    # Halabi et al. 2016 J Clin Oncol 34:1652 (8,820 men): lung (no liver) against bone ± nodes HR 1.14, liver against
    # lung 1.52, so liver against bone 1.14 x 1.52 = 1.73 (± 0.005: the product as written in the file)
    by_site = dict(zip(("bone", "node", "liver", "lung", "soft_tissue"), (1.0, 1.0, 1.73, 1.14, 1.0)))
    ratios = dict(zip(LESION_SITES, load_disease("mcrpc").lesions.site_hazard_ratios))
    assert {site: ratios[site] for site in by_site} == pytest.approx(by_site, abs=0.005)
    mcrpc = populations["mcrpc"]
    ratio = site_hazard_ratio(mcrpc)
    liver = (mcrpc.lesion_sites == "liver").any(axis=1)
    lung = (mcrpc.lesion_sites == "lung").any(axis=1) & ~liver
    assert np.all(ratio[liver] == 1.73) and np.all(ratio[lung] == 1.14) and np.all(ratio[~liver & ~lung] == 1.0)
    assert 0.0 < liver.mean() < 0.5 and 0.0 < lung.mean() < 0.5
    # a disease that gives no ratios: every patient 1
    assert np.all(site_hazard_ratio(populations["gep_net"]) == 1.0)


def test_malformed_site_hazard_ratios_are_refused():
    document = yaml.safe_load(resources.files("rptici.data").joinpath("populations/mcrpc.yaml").read_text())
    for ratios, error, field in (({"liver": -1.0}, InputError, "death_hazard_ratios.liver"),
                                 ({"brain": 2.0}, UnknownNameError, "death_hazard_ratios")):
        bad = copy.deepcopy(document)
        bad["lesions"]["sites"]["death_hazard_ratios"] = ratios
        with pytest.raises(error, match=field):
            parse_disease(bad, "mcrpc")
    unsourced = copy.deepcopy(document)
    del unsourced["lesions"]["sites"]["death_hazard_source"]
    with pytest.raises(InputError, match="death_hazard_source"):
        parse_disease(unsourced, "mcrpc")


#: CDC 2000 growth charts, boys' 50th percentiles (Kuczmarski et al. 2002 Vital Health Stat 11(246); statage and
#: wtage tables at 36.5, 54.5, 78.5, 102.5 and 120.5 months): age (years) -> (stature cm, weight kg)
CDC_BOYS_P50 = {3.0: (95.27, 14.40), 4.5: (105.88, 17.38), 6.5: (118.87, 21.96), 8.5: (131.00, 27.16),
                10.0: (138.82, 32.09)}


def test_neuroblastoma_children_have_the_body_sizes_of_their_age():
    """Boys within 3 months of each age: median stature within 3 % and weight within 10 % of the CDC 2000 medians
    (the population pairs a lognormal age with lognormal stature and weight by a Gaussian copula, a power-law
    approximation of the growth curves: about age^0.31 for stature and age^0.66 for weight over 3-10 years)."""
    boys = sample_population("neuroblastoma", 20000, seed=3, sex="male")
    for age, (stature, weight) in CDC_BOYS_P50.items():
        near = np.abs(boys.age_years - age) < 0.25
        assert near.sum() > 300, age
        assert np.median(boys.height_cm[near]) == pytest.approx(stature, rel=0.03), age
        assert np.median(boys.weight_kg[near]) == pytest.approx(weight, rel=0.10), age
    # body surface area of a 6.5-year-old about 0.85 m2 (Mosteller, 118.9 cm and 22.0 kg)
    near = np.abs(boys.age_years - 6.5) < 0.25
    assert np.median(boys.bsa_m2[near]) == pytest.approx(math.sqrt(118.87 * 21.96 / 3600), rel=0.05)


def test_radiosensitivity_follows_webb_and_nahum(populations):
    # Webb and Nahum 1993 Phys Med Biol 38:653: alpha mean 0.35/Gy, inter-patient SD 0.08/Gy (± 0.005)
    alpha = populations["gep_net"].alpha_per_Gy
    assert alpha.mean() == pytest.approx(0.35, abs=0.005)
    assert alpha.std() == pytest.approx(0.08, abs=0.005)
    assert np.all(alpha > 0)


def test_correlations_are_imposed(populations):
    # Gaussian copula: Spearman rank correlation = (6/pi) asin(rho/2) (Pearson 1907); rho 0.45 -> 0.433 (± 0.03)
    mcrpc = populations["mcrpc"]
    expected = 6 / math.pi * math.asin(0.45 / 2)
    assert stats.spearmanr(mcrpc.height_cm, mcrpc.weight_kg).statistic == pytest.approx(expected, abs=0.03)
    assert stats.spearmanr(mcrpc.psa_ng_per_mL, mcrpc.lesion_count).statistic > 0.2
    assert stats.spearmanr(mcrpc.age_years, mcrpc.egfr_mL_per_min_per_1_73m2).statistic < -0.2
    child = populations["neuroblastoma"]
    assert stats.spearmanr(child.age_years, child.weight_kg).statistic > 0.75


def test_target_low_share_anticorrelates_with_uptake_and_keeps_its_marginal(populations):
    # Gaussian copula between SUVmean and the target-low share: Spearman = (6/pi) asin(rho/2) (Pearson 1907);
    # rho -0.6 -> -0.582 (± 0.03). The share's marginal and every other covariate stay as drawn without it.
    independent = populations["mcrpc"]
    linked = sample_population("mcrpc", N, seed=7, low_uptake_correlation=-0.6)
    expected = 6 / math.pi * math.asin(-0.6 / 2)
    assert stats.spearmanr(linked.target_uptake, linked.low_uptake_fraction).statistic == pytest.approx(expected,
                                                                                                       abs=0.03)
    assert abs(stats.spearmanr(independent.target_uptake, independent.low_uptake_fraction).statistic) < 0.05
    assert np.median(linked.low_uptake_fraction) == pytest.approx(np.median(independent.low_uptake_fraction), rel=0.05)
    np.testing.assert_array_equal(linked.target_uptake, independent.target_uptake)
    np.testing.assert_array_equal(sample_population("mcrpc", 50, seed=7, low_uptake_correlation=0.0).low_uptake_fraction,
                                  sample_population("mcrpc", 50, seed=7).low_uptake_fraction)
    with pytest.raises(InputError, match="low_uptake_correlation"):
        sample_population("mcrpc", 5, seed=7, low_uptake_correlation=-1.0)


def test_body_size_and_renal_function_are_derived(populations):
    # Mosteller 1987 N Engl J Med 317:1098: 180 cm and 80 kg give exactly 2.0 m^2; 170 cm, 70 kg give 1.818 m^2
    assert mosteller_bsa(180.0, 80.0) == pytest.approx(2.0, abs=1e-12)
    assert mosteller_bsa(170.0, 70.0) == pytest.approx(1.818, abs=1e-3)
    for population in populations.values():
        np.testing.assert_allclose(population.bsa_m2, mosteller_bsa(population.height_cm, population.weight_kg))
        np.testing.assert_allclose(population.gfr_mL_per_min,
                                   population.egfr_mL_per_min_per_1_73m2 * population.bsa_m2 / 1.73)
    # children are small: median BSA of relapsed neuroblastoma well below 1.2 m^2, adults about 1.8-2.1 m^2
    assert np.median(populations["neuroblastoma"].bsa_m2) < 1.2
    assert 1.75 < np.median(populations["mcrpc"].bsa_m2) < 2.15


@pytest.mark.parametrize("disease", DISEASES)
def test_lesion_constraints(populations, disease):
    population, spec = populations[disease], load_disease(disease)
    allowed = set(spec.lesions.count.parameters["values"])
    assert population.lesion_diameters_mm.shape == (N, 8)
    assert set(np.unique(population.lesion_count)) <= allowed and population.lesion_count.min() >= 1
    present = ~np.isnan(population.lesion_diameters_mm)
    np.testing.assert_array_equal(present.sum(axis=1), population.lesion_count)
    np.testing.assert_array_equal(present, np.arange(8)[None, :] < population.lesion_count[:, None])
    assert np.all(population.lesion_diameters_mm[present] >= 10.0)  # RECIST 1.1 measurable >= 10 mm
    np.testing.assert_allclose(population.lesion_volumes_mL[present],
                               np.pi / 6 * (population.lesion_diameters_mm[present] / 10) ** 3)
    # lesion count frequencies match the data file (± 2 %)
    count = spec.lesions.count.parameters
    for value, probability in zip(count["values"], count["probabilities"]):
        assert (population.lesion_count == value).mean() == pytest.approx(probability, abs=0.02)


def test_sphere_volume():
    # a 20 mm sphere: (4/3) pi (1 cm)^3 = 4.18879 mL
    assert sphere_volume_mL(20.0) == pytest.approx(4.18879, rel=1e-5)


def test_kinetic_covariates_and_population_container(populations):
    population = populations["gep_net"]
    covariates = population.kinetic_covariates()
    assert isinstance(covariates, Covariates) and covariates.patients == N
    assert covariates.lesion_masses_g.shape == (N, 8)
    absent = np.isnan(population.lesion_volumes_mL)
    assert np.all(covariates.lesion_masses_g[absent] == 0)
    np.testing.assert_allclose(covariates.lesion_masses_g[~absent], population.lesion_volumes_mL[~absent] * 1.0)
    np.testing.assert_allclose(covariates.target_uptake_scale, population.target_uptake / 25.0)
    assert np.median(covariates.target_uptake_scale) == pytest.approx(1.0, rel=0.02)

    subset = population.subset([10, 3, 4000])
    assert len(subset) == 3 and list(subset.patient_id) == [10, 3, 4000]
    assert subset.weight_kg[2] == population.weight_kg[4000]
    assert len(population.subset(population.sex == "female")) == (population.sex == "female").sum()
    with pytest.raises(InputError):
        population.subset([N])
    with pytest.raises(ValueError):
        population.weight_kg[0] = 1.0  # read-only arrays

    frame = population.to_frame()
    assert frame.shape[0] == N and frame.attrs["disease"] == "gep_net"
    assert {"psa_ng_per_mL", "lesion_8_diameter_mm", "total_lesion_volume_mL", "sex"} <= set(frame.columns)
    assert frame["psa_ng_per_mL"].isna().all()


def test_sex_can_be_fixed():
    women = sample_population("gep_net", 2000, 1, sex="female")
    assert np.all(women.sex == "female")
    # data file: women's height median 162 cm (assumption, NHANES); ± 1 %
    assert np.median(women.height_cm) == pytest.approx(162, rel=0.01)
    with pytest.raises(InputError):
        sample_population("mcrpc", 10, 1, sex="female")


def test_every_assumption_says_what_to_calibrate_against():
    assert set(known_diseases()) == set(DISEASES)
    for disease in DISEASES:
        spec = load_disease(disease)
        for name, against in spec.assumptions():
            assert against, f"{disease}: {name} has no calibrate_against"


# ------------------------------------------------------------------------------------------- selection

def test_selection_reproduces_a_different_target_distribution():
    rng = np.random.default_rng(0)
    plausible = {"x": rng.normal(0.0, 2.0, 8000), "y": rng.uniform(-5, 5, 8000)}
    observed = {"x": rng.normal(1.0, 0.7, 400), "y": rng.normal(-1.0, 1.5, 400)}
    # the plausible population itself is far from the target
    assert stats.ks_2samp(plausible["x"], observed["x"]).pvalue < 1e-6
    result = select_virtual_patients(plausible, observed, 400, seed=3)
    assert result.indices.size == 400 and np.all(np.diff(result.indices) > 0)
    for name in ("x", "y"):
        assert result.fit[name]["pvalue"] > 0.05
        assert stats.ks_2samp(plausible[name][result.indices], observed[name]).pvalue > 0.05
    assert result.acceptance_probability.max() == pytest.approx(1.0)
    again = select_virtual_patients(plausible, observed, 400, seed=3)
    np.testing.assert_array_equal(result.indices, again.indices)
    assert not np.array_equal(result.indices, select_virtual_patients(plausible, observed, 400, seed=4).indices)


def test_selection_on_a_model_output_and_a_published_distribution():
    """Select mCRPC patients on an added output column and on PSA against a lognormal (median 150 ng/mL)."""
    population = sample_population("mcrpc", 12000, 2)
    frame = population.to_frame()
    frame["best_percent_change"] = -60 * frame["target_uptake_scale"] + 30  # a stand-in model output
    waterfall = np.random.default_rng(1).normal(-30, 25, 300)
    result = select_virtual_patients(frame, {"best_percent_change": waterfall}, 400, seed=1)
    assert result.fit["best_percent_change"]["pvalue"] > 0.05

    target = stats.lognorm(s=math.log(3.0), scale=150.0)
    result = select_virtual_patients(population, {"psa_ng_per_mL": target}, 1000, seed=1, density="marginal",
                                     log_scale=["psa_ng_per_mL"])
    assert result.fit["psa_ng_per_mL"]["pvalue"] > 0.05
    assert result.fit["psa_ng_per_mL"]["selected_median"] == pytest.approx(150, rel=0.1)
    selected = population.subset(result.indices)
    assert len(selected) == 1000 and np.all(np.isin(selected.patient_id, population.patient_id))


# ------------------------------------------------------------------------------------------- bad input

def test_bad_input():
    with pytest.raises(UnknownNameError) as error:
        sample_population("melanoma", 10, 1)
    for disease in DISEASES:
        assert disease in str(error.value)
    for n in (0, -3, 2.5, True):
        with pytest.raises(InputError):
            sample_population("mcrpc", n, 1)
    with pytest.raises(InputError, match="method"):
        sample_population("mcrpc", 10, 1, method="halton")
    with pytest.raises(InputError):
        sample_population("mcrpc", 10, -1)
    with pytest.raises(InputError):
        patient_streams(1, 5, 2)
    plausible = {"x": np.arange(100.0)}
    with pytest.raises(UnknownNameError):
        select_virtual_patients(plausible, {"z": np.arange(10.0)}, 5, 1)
    with pytest.raises(InputError):
        select_virtual_patients(plausible, {"x": np.arange(10.0)}, 101, 1)
    with pytest.raises(InputError):
        select_virtual_patients(plausible, {"x": np.arange(10.0)}, 5, 1, density="copula")
    with pytest.raises(InputError):
        select_virtual_patients(plausible, {"x": stats.norm(0, 1)}, 5, 1)  # a distribution needs marginal
    with pytest.raises(InputError):  # far too few accepted
        select_virtual_patients(plausible, {"x": np.random.default_rng(0).normal(99, 0.5, 50)}, 90, 1)


def test_low_uptake_share_follows_its_beta_and_changes_no_other_draw(populations):
    """Target-low share: beta(mean 0.15, sd 0.12) for GEP-NET (SSTR2A negative/weak in 22 % of NET liver
    metastases, Charoenpitakchai et al. 2017 Virchows Arch 470:545) and the bimodal beta(mean 0.15, sd 0.25) for
    mCRPC (FDG+/PSMA- disease is a property of the patient: 18 of 54 men referred for Lu-PSMA, Michalski et al. 2021;
    beta(0.156, 0.884): 12 % of patients with a share above one half, 47 % below 0.01), mean and sd to ± 0.005 and
    the shares to ± 0.02 at n = 5000 (LHS-stratified); drawn from its own stream, so a disease without it gets 0 and
    the other covariates are the draws of a file without it."""
    for disease, sd in (("mcrpc", 0.25), ("gep_net", 0.12)):
        share = populations[disease].low_uptake_fraction
        assert share.mean() == pytest.approx(0.15, abs=0.005)
        assert share.std() == pytest.approx(sd, abs=0.005)
        assert np.all((share >= 0) & (share <= 1))
    bimodal = populations["mcrpc"].low_uptake_fraction
    assert np.mean(bimodal > 0.5) == pytest.approx(0.12, abs=0.02)
    assert np.mean(bimodal < 0.01) == pytest.approx(0.47, abs=0.02)
    assert populations["sclc"].low_uptake_fraction.mean() == pytest.approx(0.35, abs=0.005)
    import dataclasses

    from rptici.population import distributions, sampling

    spec = load_disease("gep_net")
    stripped = dataclasses.replace(spec, covariates={k: v for k, v in spec.covariates.items()
                                                     if k != "low_uptake_fraction"})
    original = sampling.load_disease
    try:
        sampling.load_disease = lambda name: stripped
        without = sample_population("gep_net", 200, seed=7)
    finally:
        sampling.load_disease = original
    with_share = sample_population("gep_net", 200, seed=7)
    np.testing.assert_array_equal(without.alpha_per_Gy, with_share.alpha_per_Gy)
    np.testing.assert_array_equal(without.lesion_volumes_mL, with_share.lesion_volumes_mL)
    np.testing.assert_array_equal(without.low_uptake_fraction, 0.0)
    assert with_share.subset([3, 1]).low_uptake_fraction.tolist() == with_share.low_uptake_fraction[[3, 1]].tolist()
    assert distributions.COVARIATE_UNITS["low_uptake_fraction"] == "1"


def _sourced_entries(node, path=""):
    """(path, entry) of every mapping with a ``source`` in a population file (correlations and sex excluded)."""
    if isinstance(node, dict):
        if "source" in node:
            yield path, node
        for key, value in node.items():
            if key not in ("correlations", "sex"):
                yield from _sourced_entries(value, f"{path}.{key}")


def test_every_value_has_a_source_and_every_assumption_is_marked():
    """Issue 20: every number of every population file has a source, and a source that says it is (or holds) an
    assumption carries ``assumption: true`` with what should calibrate it (the values of the file are not judged)."""
    from rptici.data import load_yaml

    for disease in DISEASES:
        data = load_yaml(f"populations/{disease}.yaml")
        entries = list(_sourced_entries(data))
        assert len(entries) >= 15, disease
        for path, entry in entries:
            assert str(entry["source"]).strip(), (disease, path)
            if "assum" in str(entry["source"]).lower() and not path.startswith(".target"):
                assert entry.get("assumption") is True, (disease, path)
                assert entry.get("calibrate_against"), (disease, path)
        for name, entry in data["covariates"].items():
            for marginal in (entry["by_sex"].values() if "by_sex" in entry else [entry]):
                assert "source" in marginal, (disease, name)
