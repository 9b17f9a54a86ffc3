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


@dataclass
class _Doc:
    entry: Entry
    facets: dict[str, tuple[str, ...]]
    length: float
    sort: dict[str, str]


@dataclass
class Index:
    """Postings of folded words, exact words and folded word pairs: term → [(doc, weighted tf)]."""

    docs: list[_Doc] = field(default_factory=list)
    folded: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    exact: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    pairs: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    avg_length: float = 1.0

    @classmethod
    def build(cls, entries: list[Entry]) -> Index:
        index = cls()
        folded: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        exact: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        pairs: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for n, entry in enumerate(sorted(entries, key=lambda e: e.contract.id)):
            length = 0.0
            for name, texts in _fields(entry).items():
                weight = WEIGHTS[name]
                for text in texts:
                    found = words(text)
                    length += weight * len(found)
                    plain = [fold(w) for w in found]
                    for word, bare in zip(found, plain, strict=True):
                        folded[bare][n] += weight
                        exact[word][n] += weight
                    for first, second in itertools.pairwise(plain):
                        pairs[f"{first} {second}"][n] += weight
            c = entry.contract
            sort = {
                "name": c.id,
                "id": c.id,
                "title": fold(c.title.vi.lower()),
                "title_string": fold(c.title.vi.lower()),
                "metadata_modified": entry.latest.created_at.isoformat(),
                "metadata_created": entry.releases[0].created_at.isoformat(),
            }
            index.docs.append(_Doc(entry, facet_values(entry), length, sort))
        index.avg_length = sum(d.length for d in index.docs) / len(index.docs) if index.docs else 1.0
        index.folded = {t: list(p.items()) for t, p in folded.items()}
        index.exact = {t: list(p.items()) for t, p in exact.items()}
        index.pairs = {t: list(p.items()) for t, p in pairs.items()}
        return index

    def _add(self, scores: dict[int, float], postings: list[tuple[int, float]], boost: float) -> set[int]:
        idf = math.log(1 + (len(self.docs) - len(postings) + 0.5) / (len(postings) + 0.5))
        for doc, tf in postings:
            norm = K1 * (1 - B + B * self.docs[doc].length / self.avg_length)
            scores[doc] = scores.get(doc, 0.0) + boost * idf * tf * (K1 + 1) / (tf + norm)
        return {doc for doc, _ in postings}

    def score(self, query: list[str]) -> dict[int, float]:
        """BM25F scores of the docs that match enough of the query's words (CKAN's default
        minimum match, `2<-1 5<80%`: all of up to 2 words, all but one of up to 5, else 80 %)."""
        if not query:
            return dict.fromkeys(range(len(self.docs)), 0.0)
        scores: dict[int, float] = {}
        hits: dict[int, int] = defaultdict(int)
        plain = [fold(w) for w in query]
        for word, bare in dict(zip(query, plain, strict=True)).items():
            for doc in self._add(scores, self.folded.get(bare, []), 1.0):
                hits[doc] += 1
            if word != bare:
                self._add(scores, self.exact.get(word, []), EXACT_BOOST)
        for first, second in itertools.pairwise(plain):
            self._add(scores, self.pairs.get(f"{first} {second}", []), PHRASE_BOOST)
        distinct = len(set(query))
        need = distinct if distinct <= 2 else distinct - 1 if distinct <= 5 else int(distinct * 0.8)
        return {doc: s for doc, s in scores.items() if hits[doc] >= need}


def _matches(doc: _Doc, term: tuple[str, str, bool]) -> bool:
    name, value, negated = term
    if name in ("metadata_modified", "metadata_created") and (bounds := re.match(r"^\[(\S+) TO (\S+)\]$", value)):
        low, high = (b.rstrip("Z") for b in bounds.groups())
        stamp = doc.sort[name]
        hit = (low == "*" or stamp >= low) and (high == "*" or stamp <= high)
    elif name in doc.facets:
        hit = value in doc.facets[name] or value.lower() in doc.facets[name]
    else:
        raise Invalid({"fq": [f"cannot filter on '{name}' (use one of {', '.join((*FACETS, 'name'))})"]})
    return hit != negated


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
            raise Invalid({"facet.field": [f"cannot facet on '{name}' (use one of {', '.join(FACETS)})"]})
    scores = index.score(query)
    matched = [(s, index.docs[n]) for n, s in scores.items() if all(_matches(index.docs[n], t) for t in terms)]
    matched.sort(key=lambda sd: sd[1].sort["name"])  # a stable last resort: the same order every time
    for name, descending in reversed(keys):
        if name == "score":
            matched.sort(key=lambda sd: sd[0], reverse=descending)
        else:
            matched.sort(key=lambda sd, name=name: sd[1].sort[name], reverse=descending)  # type: ignore[misc]
    facets: dict[str, dict[str, int]] = {}
    for name in facet_fields or []:
        counts: dict[str, int] = defaultdict(int)
        for _, doc in matched:
            for value in doc.facets[name]:
                counts[value] += 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        facets[name] = dict(ranked if facet_limit < 0 else ranked[:facet_limit])
    return {
        "count": len(matched),
        "sort": sort,
        "entries": [doc.entry for _, doc in matched[start : start + rows]],
        "scores": [s for s, _ in matched[start : start + rows]],
        "facets": facets,
        "search_facets": {
            name: {"title": name, "items": [{"name": k, "display_name": k, "count": v} for k, v in values.items()]}
            for name, values in facets.items()
        },
    }


__all__ = ["Index", "facet_values", "search", "words"]
