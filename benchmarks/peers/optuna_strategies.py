"""Optuna's samplers on the synthetic problems of benchmarks/strategies.ts (issue 21).

    npx tsx benchmarks/strategies.ts --write-problems /tmp/problems.json
    benchmarks/peers/.venv/bin/python benchmarks/peers/optuna_strategies.py /tmp/problems.json /tmp/optuna-runs.json \
        [--samplers gp-start,tpe-start] [--seeds 10] [--budget 100] [--problems-only NAME,...]
    npx tsx benchmarks/strategies.ts --peers /tmp/optuna-runs.json

Each gene is an integer parameter (its choice index; ordered, as nls's rank genes are). The
objectives are (accuracy: maximise, params: minimise); a bounded problem passes its parameter
bound as a constraint (constraints_func). The evaluation and its noise are computed exactly as
benchmarks/strategies.ts does (same formulas, same FNV-1a and Box-Muller noise), so the peers see
the same numbers nls's strategies see. "-start" samplers first evaluate the max, min and median
configurations (enqueue_trial), the start nls's strategies make. The output lists the configurations
each run evaluated, in order; benchmarks/strategies.ts scores them with its own code.

The output is rewritten after every run, and a run already in it (same problem, sampler, seed and
budget) is kept rather than repeated, so an interrupted invocation resumes where it stopped.

Never a dependency of nls or its tests.
"""
import argparse
import json
import math
import os
import sys
import time

import optuna


def fnv_unit(s: str) -> float:
    v = 0x811C9DC5
    for ch in s:
        v ^= ord(ch)
        v = (v * 0x01000193) & 0xFFFFFFFF
    return (v + 0.5) / 2**32


def noise_of(p, seed: int, key: str) -> float:
    u1 = fnv_unit(f"{p['name']}|{seed}|{key}|a")
    u2 = fnv_unit(f"{p['name']}|{seed}|{key}|b")
    return p["noise"] * math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)


def gain(p, i: int, u: float) -> float:
    c = p["concavity"][i]
    return p["weights"][i] * (1 - math.exp(-c * u)) / (1 - math.exp(-c))


def true_values(p, x):
    r0 = p["ranks"][0]
    acc = p["base"]
    params = 0
    for i in range(p["genes"]):
        u = p["ranks"][x[i]] / r0
        acc += gain(p, i, u)
        if i + 1 < p["genes"]:
            acc += p["interactions"][i] * u * (p["ranks"][x[i + 1]] / r0)
        params += p["moduleSize"][i] * p["ranks"][x[i]]
    return acc, params


def table_values(p, x):
    # The demo table: the values measured for this configuration (no noise).
    if "lookup" not in p:
        p["lookup"] = {tuple(r["config"]): (r["accuracy"], r["params"]) for r in p["table"]}
    return p["lookup"][tuple(x)]


def choice_counts(p):
    return p["choiceCounts"] if "table" in p else [p["choices"]] * p["genes"]


def key_of(x) -> str:
    # nls's canonical key of a configuration of smallSpace: the choice indices joined by '.'.
    return ".".join(str(v) for v in x)


def make_sampler(name: str, seed: int, constrained: bool):
    cf = (lambda t: t.user_attrs["constraint"]) if constrained else None
    if name.startswith("gp"):
        return optuna.samplers.GPSampler(seed=seed, constraints_func=cf)
    if name.startswith("tpe"):
        return optuna.samplers.TPESampler(seed=seed, constraints_func=cf)
    raise SystemExit(f"unknown sampler {name}")


def run(p, sampler_name: str, seed: int, budget: int):
    counts = choice_counts(p)
    # Genes with one choice (fixed in the space) are not parameters.
    free = [i for i, k in enumerate(counts) if k > 1]
    constrained = p["bound"] is not None
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(sampler_name, seed, constrained))
    if sampler_name.endswith("-start"):
        for pick in (lambda k: 0, lambda k: k - 1, lambda k: (k - 1) // 2):
            study.enqueue_trial({f"g{i}": pick(counts[i]) for i in free})
    configs = []

    def objective(trial):
        x = [trial.suggest_int(f"g{i}", 0, k - 1) if k > 1 else 0 for i, k in enumerate(counts)]
        configs.append(x)
        if "table" in p:
            acc, params = table_values(p, x)
        else:
            acc, params = true_values(p, x)
            acc += noise_of(p, seed, key_of(x))
        if constrained:
            trial.set_user_attr("constraint", [params - p["bound"]])
        return acc, params

    started = time.perf_counter()
    study.optimize(objective, n_trials=budget)
    return configs, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("problems")
    ap.add_argument("out")
    ap.add_argument("--samplers", default="gp-start,tpe-start")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--problems-only", default="all")
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problems = json.load(open(a.problems))["problems"]
    runs = []
    try:
        previous = json.load(open(a.out))
        if previous.get("format") == "nls-peer-runs/1" and previous.get("optuna") == optuna.__version__:
            runs = previous["runs"]
    except FileNotFoundError:
        pass
    done = {(r["problem"], r["sampler"], r["seed"], len(r["configs"])) for r in runs}
    for p in problems:
        if a.problems_only != "all" and p["name"] not in a.problems_only.split(","):
            continue
        for sampler in a.samplers.split(","):
            for seed in range(a.seeds):
                if (p["name"], sampler, seed, a.budget) in done:
                    continue
                configs, seconds = run(p, sampler, seed, a.budget)
                runs.append({"problem": p["name"], "sampler": sampler, "seed": seed, "configs": configs, "seconds": seconds})
                print(f"{p['name']} {sampler} seed {seed}: {seconds:.1f} s", file=sys.stderr, flush=True)
                tmp = a.out + ".tmp"
                with open(tmp, "w") as f:
                    json.dump({"format": "nls-peer-runs/1", "optuna": optuna.__version__, "runs": runs}, f)
                os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
