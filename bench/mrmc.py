"""The full MRMC analysis of a reader study, against scikit-learn's AUC on the same data.

    python -m bench.mrmc [--quick] [--readers R] [--cases C] [--sessions T]

A synthetic fully crossed study (default 10 readers x 500 cases x 2 sessions, half the cases
diseased, ratings on a 1-100 scale with ties, seeded), built from its 10,000 long rows as an
upload would be. Timed (median of N runs):

rows:     the rows to a ReaderStudy (validation included)
full:     per-reader AUCs with SEs, Obuchowski-Rockette with jackknife and with DeLong
          covariances, and DBM: what the results page and the API compute
unbiased: OR with the unbiased (U-statistic) covariance, which needs the kernel matrices
Baselines in the same run: one sklearn.metrics.roc_auc_score of one reader in one session;
all readers x sessions AUCs by scikit-learn; and the naive jackknife (each case left out,
every AUC recomputed by scikit-learn), measured on one reader x session and multiplied out.
Target: full analysis under 2 s on this machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from app.stats.mrmc import dbm_analysis, or_analysis
from app.stats.ratings import ReaderStudy, study_from_rows
from bench.common import median, timed

TARGET_MS = 2000.0


def synthetic_rows(readers: int, cases: int, sessions: int, seed: int = 12) -> list[dict]:
    rng = np.random.default_rng(seed)
    truth = (np.arange(cases) % 2).astype(int)
    skill = rng.uniform(0.8, 1.6, readers)
    aid = np.linspace(0, 0.3, sessions)
    rows = []
    for r in range(readers):
        for t in range(sessions):
            latent = truth * (skill[r] + aid[t]) + rng.normal(size=cases)
            rating = np.clip(np.round(50 + 20 * latent), 1, 100)
            rows.extend(
                {
                    "reader": f"reader {r + 1}",
                    "treatment": f"session {t + 1}",
                    "case": f"case {c + 1}",
                    "truth": int(truth[c]),
                    "rating": float(rating[c]),
                }
                for c in range(cases)
            )
    return rows


def full_analysis(study: ReaderStudy) -> None:
    jackknife = or_analysis(study, covariance_method="jackknife")
    or_analysis(study, covariance_method="delong")
    dbm_analysis(study)
    assert len(jackknife.reader_figures) == study.scores.shape[0] * study.scores.shape[1]


def naive_jackknife_one(study: ReaderStudy) -> None:
    c = len(study.cases)
    for k in range(c):
        keep = np.arange(c) != k
        roc_auc_score(study.truth[keep], study.scores[0, 0, keep])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=2)
    args = parser.parse_args()
    repeats = 3 if args.quick else 10
    rows = synthetic_rows(args.readers, args.cases, args.sessions)
    study = study_from_rows(rows)
    t, r, c = study.scores.shape
    print(f"study: {r} readers x {c} cases x {t} sessions ({len(rows)} rows), {repeats} runs")

    one_auc = timed(lambda: roc_auc_score(study.truth, study.scores[0, 0]), repeats * 5)
    all_aucs = timed(
        lambda: [
            roc_auc_score(study.truth, study.scores[i, j]) for i in range(t) for j in range(r)
        ],
        repeats,
    )
    start = time.perf_counter()
    naive_jackknife_one(study)
    naive_one = (time.perf_counter() - start) * 1000
    building = timed(lambda: study_from_rows(rows), repeats)
    full = timed(lambda: full_analysis(study), repeats)
    unbiased = timed(lambda: or_analysis(study, covariance_method="unbiased"), repeats)

    base = median(one_auc)
    print(f"{'baseline: one AUC, scikit-learn':<48} {base:9.2f} ms")
    print(f"{f'baseline: all {t * r} AUCs, scikit-learn':<48} {median(all_aucs):9.2f} ms")
    print(
        f"{'baseline: naive jackknife, scikit-learn':<48} {naive_one * t * r:9.0f} ms "
        f"({naive_one:.0f} ms for one reader x session, x{t * r})"
    )
    print(f"{'rows -> study (validated)':<48} {median(building):9.2f} ms")
    print(
        f"{'full analysis (OR jackknife + DeLong, DBM)':<48} {median(full):9.2f} ms "
        f"({median(full) / base:.0f}x one AUC; target {TARGET_MS:.0f} ms: "
        f"{'met' if median(full) < TARGET_MS else 'MISSED'})"
    )
    print(f"{'OR, unbiased covariance':<48} {median(unbiased):9.2f} ms")


if __name__ == "__main__":
    main()
