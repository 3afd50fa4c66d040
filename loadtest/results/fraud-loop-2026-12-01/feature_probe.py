import sys, bisect, collections, time
from pathlib import Path
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.ensemble import HistGradientBoostingClassifier
from agents.fraud.assess import Assessor
from agents.fraud.model import FixedModels
from agents.fraud.replay import replay
from agents.fraud.labelrisk import LabelRiskMemory, entries_of
from agents.fraud.history import HistoryOptions, split
from agents.rules import Rules
from paystream.train_cli import read_history_labels as _read_history_labels
from paystream.train_cli import read_transactions as _read_transactions
from streams.records import FraudLabel
D = Path(sys.argv[1]); DAY = 86_400_000; DELAY = 7 * DAY
txs = sorted(_read_transactions(D / "transactions.jsonl"), key=lambda t: (t.event_time, t.tx_id))
labels = _read_history_labels(D / "labels.csv")
known = [e for t in txs if (l := labels.get(t.tx_id)) and l.is_fraud
         for e in entries_of(t.tx_id, t.source_account, t.destination_account, t.event_time,
                             l.reported_at_ms if l.reported_at_ms is not None else t.event_time + DELAY)]
r = replay(((t, FraudLabel(t.tx_id, bool(labels.get(t.tx_id) and labels[t.tx_id].is_fraud), "x")) for t in txs),
           Assessor(Rules(), FixedModels(None)), label_risk=LabelRiskMemory(known))
scored = np.asarray(r.scored); rows = r.features(); stx = [t for t, k in zip(txs, scored) if k]
truth = np.asarray(r.is_fraud)[scored]
ev = np.asarray([t.event_time for t in stx])
times = split(txs[0].event_time, txs[-1].event_time, HistoryOptions(None, None, 7.0))
rep = {t.tx_id: (l.reported_at_ms if l.reported_at_ms is not None else None) for t in txs if (l := labels.get(t.tx_id)) and l.is_fraud}
known_at_train = np.asarray([(t.tx_id not in rep) or rep[t.tx_id] <= times.labels_known_at_ms for t in stx])
# extra features
by_dest = collections.defaultdict(list); by_payer = collections.defaultdict(list)
fraud_by_dest = collections.defaultdict(list)  # (reported, event)
for t in txs:
    if t.tx_id in rep: fraud_by_dest[t.destination_account].append((rep[t.tx_id], t.event_time))
E1 = np.zeros((len(stx), 6), np.float32); E2 = np.zeros((len(stx), 6), np.float32)
dest_times = collections.defaultdict(list); payer_hist = collections.defaultdict(list)
for i, t in enumerate(stx):
    T = t.event_time
    dt = dest_times[t.destination_account]
    fr = fraud_by_dest.get(t.destination_account, [])
    for j, w in enumerate((7 * DAY, 30 * DAY)):
        # window of event times [T - DELAY - w, T - DELAY): labels of then are known by now
        lo, hi = T - DELAY - w, T - DELAY
        n = bisect.bisect_left(dt, hi) - bisect.bisect_left(dt, lo)
        f = sum(1 for rp, e in fr if lo <= e < hi and rp <= T)
        E1[i, 3 * j] = n; E1[i, 3 * j + 1] = f; E1[i, 3 * j + 2] = f / n if n else 0.0
    dt.append(T)
    ph = payer_hist[t.source_account]
    for j, w in enumerate((DAY, 7 * DAY, 30 * DAY)):
        k = bisect.bisect_left(ph, (T - w, -1))
        win = ph[k:]
        E2[i, 2 * j] = len(win); E2[i, 2 * j + 1] = np.mean([a for _, a in win]) if win else 0.0
    ph.append((T, t.amount))
train = (ev >= times.train_from_ms) & (ev < times.train_to_ms); test = ev >= times.test_from_ms
y_tr = truth[train] & known_at_train[train]
def fit(X, name):
    m = HistGradientBoostingClassifier(learning_rate=0.08, max_iter=300, max_leaf_nodes=31, min_samples_leaf=40,
                                       l2_regularization=1.0, early_stopping=False, random_state=1).fit(X[train], y_tr)
    s = m.predict_proba(X[test])[:, 1]
    print(f"{name:30s} AP {average_precision_score(truth[test], s):.4f} ROC {roc_auc_score(truth[test], s):.4f}")
fit(rows, "ours")
fit(np.hstack([rows, E1[:, [2, 5]]]), "+ dest rate only (delayed)")
fit(np.hstack([rows, E1[:, [1, 2, 4, 5]]]), "+ dest frauds+rate (delayed)")
fit(np.hstack([rows, E1]), "+ dest rate (delayed windows)")
fit(np.hstack([rows, E2]), "+ payer 1/7/30d count+mean")
fit(np.hstack([rows, E1, E2]), "+ both")
