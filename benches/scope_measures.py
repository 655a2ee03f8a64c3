"""Near-domain out-of-scope measures the engine does not compute, on the
held-out-intents protocol (BENCHMARKS.md "Out of scope": 10 BANKING77
intents held out, 10 shots of each other, splits 1-3), each read as recall
of the held-out intents' dev questions with 5 % of the in-scope ones handed
off, and the area under the curve.

    cargo test --release -p support-chat-assistant --lib \
        dump_the_held_out_intents_embeddings -- --ignored
    python3 -m venv target/numpy-venv && target/numpy-venv/bin/pip install numpy
    target/numpy-venv/bin/python benches/scope_measures.py
"""

import os

import numpy as np

# `HELD_OUT_SHOTS=all` for the dump of every question of the other intents.
DUMP = "target/held-out-dump" + ("-all" if os.environ.get("HELD_OUT_SHOTS") == "all" else "")


def load(split):
    raw = np.fromfile(f"{DUMP}/split{split}.bin", dtype="<f4").reshape(-1, 768)
    rows = [line.rstrip("\n").split("\t") for line in open(f"{DUMP}/split{split}.tsv")]
    kind = np.array([r[0] for r in rows])
    intent = np.array([r[1] for r in rows])
    held = np.array([r[2] == "1" for r in rows])
    engine = np.array([[float(x) for x in r[3:7]] for r in rows])
    return raw[:, :384], raw[:, 384:], kind, intent, held, engine


def recall_at(ins, oos, rate=0.05):
    """Higher reads more in scope: the share of `oos` under the threshold
    that hands off `rate` of `ins`."""
    return (oos < np.quantile(ins, rate)).mean()


def auc(ins, oos):
    ranks = np.concatenate([ins, oos]).argsort().argsort() + 1
    return (ranks[: len(ins)].sum() - len(ins) * (len(ins) + 1) / 2) / (len(ins) * len(oos))


def mahalanobis(train, labels, x, shrink):
    """Minus the least Mahalanobis distance to a class mean, with one
    covariance shared by the classes, shrunk towards its mean variance."""
    classes = sorted(set(labels))
    means = np.stack([train[labels == c].mean(0) for c in classes])
    centred = np.concatenate([train[labels == c] - means[i] for i, c in enumerate(classes)])
    cov = centred.T @ centred / len(centred)
    cov = (1 - shrink) * cov + shrink * np.trace(cov) / len(cov) * np.eye(len(cov))
    precision = np.linalg.inv(cov)
    d = np.stack([np.einsum("ij,jk,ik->i", x - m, precision, x - m) for m in means], 1)
    return -d.min(1)


def measures(own, tuned, kind, intent, engine):
    train = kind == "train"
    z = lambda s: (s - s.mean()) / s.std()
    yield "the engine's score (served)", engine[:, 0]
    yield "the engine's neighbour", engine[:, 2]
    for name, e in (("own", own), ("tuned", tuned)):
        labels = intent[train]
        classes = sorted(set(labels))
        sims = e @ e[train].T
        per_class = np.stack([sims[:, labels == c].max(1) for c in classes], 1)
        best = np.sort(per_class, 1)
        yield f"nearest example, {name}", best[:, -1]
        yield f"nearest less the second class's, {name}", best[:, -1] - best[:, -2]
        for k in (3, 5):
            yield f"mean of {k} nearest, {name}", np.sort(sims, 1)[:, -k:].mean(1)
        means = np.stack([e[train][labels == c].mean(0) for c in classes])
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        yield f"nearest class mean, {name}", (e @ means.T).max(1)
        inner = e[train] @ e[train].T
        np.fill_diagonal(inner, -1)
        radius = np.array([inner[np.ix_(labels == c, labels == c)].max(1).mean() for c in classes])
        yield f"nearest less its class's radius, {name}", (per_class - radius).max(1)
        for shrink in (0.1, 0.5, 0.8):
            yield f"Mahalanobis, shrink {shrink}, {name}", mahalanobis(e[train], labels, e, shrink)
        yield f"z(score) + z(nearest), {name}", z(engine[:, 0]) + z(best[:, -1])


results = {}
for split in (1, 2, 3):
    own, tuned, kind, intent, held, engine = load(split)
    dev = kind == "dev"
    for name, score in measures(own, tuned, kind, intent, engine):
        ins, oos = score[dev & ~held], score[dev & held]
        results.setdefault(name, []).append((recall_at(ins, oos), auc(ins, oos)))
print(f"{'measure':45s} recall at 5 % (splits 1 / 2 / 3)   AUC")
for name, r in results.items():
    r = np.array(r)
    splits = " / ".join(f"{x:.2f}" for x in r[:, 0])
    print(f"{name:45s} {r[:, 0].mean():.3f} ({splits})   {r[:, 1].mean():.3f}")
