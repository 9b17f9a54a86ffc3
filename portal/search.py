"""Full-text search over the open catalogue, behind both the portal's home page and CKAN's
`package_search`: BM25F over words folded to plain letters (so `giao duc` finds `giáo dục`), a
boost where the words typed with diacritics match them exactly (so `giá` ranks prices above
`giả`/`gia`), a boost for adjacent words (`moi truong`), CKAN's minimum-match rule, facets,
filters and sorts.

A catalogue is thousands of datasets, not millions: an in-memory index, rebuilt when the
catalogue changes, answers in a millisecond or two with no search service to run or keep in sync.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lgsp.core.text import without_diacritics
from lgsp.portal.access import Entry
from lgsp.portal.ckan import FACETS, parse_fq, sort_keys
from lgsp.web.problems import Invalid

# How much a word counts by where it is: a title word says more about a dataset than a column's.
WEIGHTS = {"title": 3.0, "name": 2.0, "tags": 2.5, "publisher": 1.5, "notes": 1.0, "columns": 1.0}
K1, B = 1.2, 0.75  # BM25's usual saturation and length normalisation
EXACT_BOOST = 1.0  # a word typed with its diacritics and found with them counts twice
PHRASE_BOOST = 0.5  # two query words found side by side
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lower-case words (snake_case split), NFC so a typed 'á' equals a stored one."""
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def fold(word: str) -> str:
    return without_diacritics(word)


def _fields(entry: Entry) -> dict[str, list[str]]:
    c = entry.contract
    publisher = [c.publisher.code, c.publisher.name.vi, c.publisher.name.en]
    publisher += [n for f in c.publisher.former_names for n in (f.vi, f.en)]
    columns = [t for col in entry.columns for t in (col.name, col.description.vi, col.description.en)]
    return {
        "title": [c.title.vi, c.title.en],
        "name": [c.id],
        "tags": [*c.keywords.vi, *c.keywords.en],
        "publisher": publisher,
        "notes": [c.description.vi, c.description.en],
        "columns": columns,
    }


FILTERABLE = (*FACETS, "owner_org", "name", "id")


def facet_values(entry: Entry) -> dict[str, tuple[str, ...]]:
    """What each facet (and fq filter) sees of a dataset, in CKAN's field names."""
    c, latest = entry.contract, entry.latest
    return {
        "organization": (c.publisher.code.lower(),),
        "owner_org": (c.publisher.code.lower(),),
        "tags": (*c.keywords.vi, *c.keywords.en),
        "res_format": tuple(sorted({d.format.upper() for d in latest.distributions})),
        "groups": tuple(t.value.lower() for t in c.theme),
        "license_id": (c.licence.id,),
        "classification": (c.classification.value,),
        "update_frequency": (c.update_frequency.value,),
        "name": (c.id,),
        "id": (c.id,),
    }


Postings = tuple[np.ndarray, np.ndarray]  # doc numbers, each one's BM25F contribution


@dataclass
class Index:
    """For each folded word, exact word and folded word pair: the docs holding it and what each
    adds to a score (BM25F with idf and length norms precomputed, so a query only adds arrays);
    and for each facet value the docs having it."""

    entries: list[Entry] = field(default_factory=list)
    folded: dict[str, Postings] = field(default_factory=dict)
    exact: dict[str, Postings] = field(default_factory=dict)
    pairs: dict[str, Postings] = field(default_factory=dict)
    values: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # facet → value → mask
    ranks: dict[str, np.ndarray] = field(default_factory=dict)  # sort field → each doc's rank
    stamps: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, entries: list[Entry]) -> Index:
        index = cls(entries=sorted(entries, key=lambda e: e.contract.id))
        count = len(index.entries)
        folded: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        exact: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        pairs: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        lengths = np.zeros(count)
        keys: dict[str, list[str]] = defaultdict(list)
        for n, entry in enumerate(index.entries):
            for name, texts in _fields(entry).items():
                weight = WEIGHTS[name]
                for text in texts:
                    found = words(text)
                    lengths[n] += weight * len(found)
                    plain = [fold(w) for w in found]
                    for word, bare in zip(found, plain, strict=True):
                        folded[bare][n] += weight
                        exact[word][n] += weight
                    for first, second in itertools.pairwise(plain):
                        pairs[f"{first} {second}"][n] += weight
            for facet, values in facet_values(entry).items():
                for value in values:
                    index.values.setdefault(facet, {}).setdefault(value, np.zeros(count, dtype=bool))[n] = True
            c = entry.contract
            keys["name"].append(c.id)
            keys["title_string"].append(fold(c.title.vi.lower()))
            keys["metadata_modified"].append(entry.latest.created_at.isoformat())
            keys["metadata_created"].append(entry.releases[0].created_at.isoformat())
        keys["id"], keys["title"] = keys["name"], keys["title_string"]
        norms = K1 * (1 - B + B * lengths / (lengths.mean() if count else 1.0))

        def postings(table: dict[str, dict[int, float]]) -> dict[str, Postings]:
            out = {}
            for term, found in table.items():
                docs = np.fromiter(found.keys(), dtype=np.int64, count=len(found))
                tf = np.fromiter(found.values(), dtype=np.float64, count=len(found))
                idf = math.log(1 + (count - len(found) + 0.5) / (len(found) + 0.5))
                out[term] = (docs, idf * tf * (K1 + 1) / (tf + norms[docs]))
            return out

        index.folded, index.exact, index.pairs = postings(folded), postings(exact), postings(pairs)
        for name, texts_of in keys.items():
            order = sorted(range(count), key=texts_of.__getitem__)
            index.ranks[name] = np.empty(count, dtype=np.int64)
            index.ranks[name][order] = np.arange(count)
        index.stamps = {k: keys[k] for k in ("metadata_modified", "metadata_created")}
        return index

    def score(self, query: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """BM25F scores, and which docs match enough of the query's words (CKAN's default minimum
        match, `2<-1 5<80%`: all of up to 2 words, all but one of up to 5, else 80 %)."""
        count = len(self.entries)
        scores = np.zeros(count)
        if not query:
            return scores, np.ones(count, dtype=bool)
        hits = np.zeros(count, dtype=np.int64)
        plain = [fold(w) for w in query]
        for word, bare in dict(zip(query, plain, strict=True)).items():
            if bare in self.folded:
                docs, adds = self.folded[bare]
                scores[docs] += adds
                hits[docs] += 1
            if word != bare and word in self.exact:
                docs, adds = self.exact[word]
                scores[docs] += EXACT_BOOST * adds
        for first, second in itertools.pairwise(plain):
            if (pair := f"{first} {second}") in self.pairs:
                docs, adds = self.pairs[pair]
                scores[docs] += PHRASE_BOOST * adds
        distinct = len(set(plain))
        need = distinct if distinct <= 2 else distinct - 1 if distinct <= 5 else int(distinct * 0.8)
        return scores, hits >= need

    def mask(self, term: tuple[str, str, bool]) -> np.ndarray:
        """The docs an fq term lets through."""
        name, value, negated = term
        if name in self.stamps and (bounds := re.match(r"^\[(\S+) TO (\S+)\]$", value)):
            low, high = (b.rstrip("Z") for b in bounds.groups())
            hit = np.array(
                [(low == "*" or s >= low) and (high == "*" or s <= high) for s in self.stamps[name]], dtype=bool
            )
        elif name in FILTERABLE:
            values = self.values.get(name, {})
            none = np.zeros(len(self.entries), dtype=bool)
            hit = values.get(value, values.get(value.lower(), values.get(value.upper(), none)))
        else:
            raise Invalid(
                {
                    "fq": [
                        f"không lọc theo '{name}' được / cannot filter on '{name}' (use one of {', '.join((*FACETS, 'name'))})"
                    ]
                }
            )
        return ~hit if negated else hit


def _split_q(q: str) -> tuple[list[str], str]:
    """Free words, and Solr `field:value` terms in q (CKAN passes them through) as an fq."""
    q = q.strip()
    if q in ("", "*", "*:*"):
        return [], ""
    fielded = re.findall(r'(?:^|\s)([+-]?\w+:(?:"[^"]*"|\S+))', q)
    rest = re.sub(r'(?:^|\s)[+-]?\w+:(?:"[^"]*"|\S+)', " ", q)
    return words(rest), " ".join(fielded)


def search(
    index: Index,
    *,
    q: str = "",
    fq: str = "",
    rows: int = 10,
    start: int = 0,
    sort: str = "score desc, metadata_modified desc",
    facet_fields: list[str] | None = None,
    facet_limit: int = 50,
) -> dict[str, Any]:
    """CKAN package_search's answer, with the page's entries (the caller makes them packages)."""
    query, q_filters = _split_q(q)
    terms = parse_fq(f"{fq} {q_filters}")
    keys = sort_keys(sort)
    for name in facet_fields or []:
        if name not in FACETS:
            raise Invalid(
                {
                    "facet.field": [
                        f"không gom nhóm theo '{name}' được / cannot facet on '{name}' (use one of {', '.join(FACETS)})"
                    ]
                }
            )
    scores, matched = index.score(query)
    for term in terms:
        matched = matched & index.mask(term)
    found = np.flatnonzero(matched)
    columns = [index.ranks["name"][found]]  # a stable last resort: the same order every time
    for name, descending in reversed(keys):
        column = scores[found] if name == "score" else index.ranks[name][found]
        columns.append(-column if descending else column)
    order = found[np.lexsort(columns)] if len(found) else found
    facets: dict[str, dict[str, int]] = {}
    for name in facet_fields or []:
        counts = {value: int(np.count_nonzero(docs[matched])) for value, docs in index.values.get(name, {}).items()}
        ranked = sorted(((v, n) for v, n in counts.items() if n), key=lambda kv: (-kv[1], kv[0]))
        facets[name] = dict(ranked if facet_limit < 0 else ranked[:facet_limit])
    page = order[start : start + rows]
    return {
        "count": len(found),
        "sort": sort,
        "entries": [index.entries[n] for n in page],
        "scores": [float(scores[n]) for n in page],
        "facets": facets,
        "search_facets": {
            name: {"title": name, "items": [{"name": k, "display_name": k, "count": v} for k, v in values.items()]}
            for name, values in facets.items()
        },
    }


__all__ = ["Index", "facet_values", "search", "words"]
