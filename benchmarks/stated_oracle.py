"""How close anyone can get to the sample's truth from what an opportunity states: the latent customer size.

The backtest's "best achievable" is the generator's noise-free median, which includes the customer's latent
size u (sd 0.35, entering log ARR directly). No estimator sees u: it shows only noisily, in the business
description's "about N employees" (when that phrasing is used), in the scope numbers (0.5 u plus the project
type's scope noise) and in the customer's earlier projects' ARR. This oracle knows every other part of the
median exactly and replaces u by its posterior mean given exactly those observations (all Gaussian in the
generator, so the posterior is exact), using the customer's projects in the training part and the opportunity
itself. Its error on the same split as ``oppscope backtest`` is the best achievable from what the fully stated
pattern states (a lower bound for the profile pattern, which leaves the project type to the words).

    .venv/bin/python benchmarks/stated_oracle.py [--rows 5000] [--seed 20240601] [--test-fraction 0.2]
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict

import numpy as np

from oppscope.history import sample

EMPLOYEES = re.compile(r"about ([\d,]+) employees")
SIZE_SD = sample.CUSTOMER_SIZE_SD
EMPLOYEE_NOISE_SD = sample.EMPLOYEE_COUNT_SD  # on log employees, which carry 2 u


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    args = parser.parse_args()

    # Rows in close-date order, as the backtest splits them, with what the generator drew for them.
    generated, draw = sample.generate_with_draw(args.rows, args.seed)
    rows = generated.rows
    customer = draw.customer
    u = draw.customers.u[customer]
    segment = draw.customers.segment[customer]
    found = [EMPLOYEES.search(r["business_description"] or "") for r in rows]
    employees = np.array([float(m.group(1).replace(",", "")) if m else np.nan for m in found])
    size_from_employees = (np.log(employees) - np.log(np.array(sample._SEGMENT_EMPLOYEES)[segment])) / 2
    types = sample.PROJECT_TYPES
    typical = np.array([t.typical_scope for t in types])[draw.project_type]
    scope_sd = 2 * np.array([t.scope_sigma for t in types])[draw.project_type]
    size_from_scope = 2 * (np.log(draw.scope / typical) - sample._SEGMENT_SCOPE[segment])
    size_from_outcome = draw.log_arr - (draw.log_arr_median - u)

    cut = int(args.rows * (1 - args.test_fraction))
    projects: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(customer.tolist()):
        projects[c].append(i)
    oracle = np.empty(args.rows - cut)
    for k, i in enumerate(range(cut, args.rows)):
        seen = [j for j in projects[int(customer[i])] if j < cut or j == i]
        precision, weighted = 1 / SIZE_SD**2, 0.0
        stated = [j for j in seen if np.isfinite(size_from_employees[j])]
        if stated:  # one count per customer: its projects repeat it
            precision += 1 / (EMPLOYEE_NOISE_SD / 2) ** 2
            weighted += size_from_employees[stated[0]] / (EMPLOYEE_NOISE_SD / 2) ** 2
        for j in seen:
            precision += 1 / scope_sd[j] ** 2
            weighted += size_from_scope[j] / scope_sd[j] ** 2
            if j < cut:
                precision += 1 / draw.arr_sigma[j] ** 2
                weighted += size_from_outcome[j] / draw.arr_sigma[j] ** 2
        oracle[k] = draw.log_arr_median[i] - u[i] + weighted / precision

    actual = draw.log_arr[cut:]
    truth = np.median(np.abs(np.expm1(draw.log_arr_median[cut:] - actual)))
    stated_best = np.median(np.abs(np.expm1(oracle - actual)))
    print(f"sample {args.rows:,} rows, seed {args.seed}, the latest {args.rows - cut:,} projects")
    print(f"best achievable (generator truth, knows u):      ARR MdAPE {truth:.1%}")
    print(f"best achievable from what is stated (u inferred): ARR MdAPE {stated_best:.1%} ({stated_best / truth:.2f}x)")


if __name__ == "__main__":
    main()
