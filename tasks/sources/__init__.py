"""Raw data sources of the task catalog, each mapped onto one canonical schema.

A `SourceSpec` pairs a seqio `DataSource` with a `canonicalize` function that turns the source's
raw examples into one of three schemas (tf.string text, int32 ints):

- "pair":   {"idx", "text_a", "text_b", "label"}
- "choice": {"idx", "context", "choices": [C], "label"}   (C = len(label_names), fixed per dataset)
- "tags":   {"idx", "tokens": [n], "tags": [n]}
- "qa":     {"idx", "id", "question", "context", "answers": [n], "answer_starts": [n]}

`idx` is the example's position in its split as the source yields it unsharded and unshuffled
(`source.get_dataset(split, shuffle=False)`), counted before unlabelled examples are filtered out,
so it names the raw row. Sharded reads (one shard per host) restart the count in every shard.

Data comes from TFDS where TFDS has exactly the data XTREME / X-STILTs use, otherwise from files
in the layout that google-research/xtreme `scripts/download_data.sh` writes (its `download/`
folder), found through `data_dir()`. Factories never touch the disk, so the whole catalog can be
registered without data; file sources check their files when a split is read. `ccg()` is the
exception: its tag set is read from the data (see its docstring).

One module per family: `classification` (pair), `multiple_choice` (choice), `tagging` (tags),
`qa`, and `retrieval` (the retrieval tasks' file readers); `common` holds the schemas and
`SourceSpec`, `files` the data directory and file layouts, `languages` the language lists, `ud` the
UD release reader behind UD-POS's test split.
"""

from __future__ import annotations

from tasks.sources.classification import NLI_LABELS, PAWSX_LABELS, QQP_LABELS, anli, mnli, pawsx, qqp, snli, xnli
from tasks.sources.common import CHOICE, PAIR, QA, SCHEMAS, TAGS, Canonicalize, SourceSpec
from tasks.sources.concat import concatenated
from tasks.sources.files import ENV_DATA_DIR, data_dir
from tasks.sources.languages import (
    MLQA_LANGS,
    PANX_LANGS_XTREME,
    PANX_LANGS_XTREME_R,
    PAWSX_LANGS,
    TYDIQA_LANGS,
    UDPOS_LANGS_XTREME,
    UDPOS_LANGS_XTREME_R,
    XCOPA_LANGS,
    XNLI_LANGS,
    XQUAD_LANGS_XTREME,
    XQUAD_LANGS_XTREME_R,
)
from tasks.sources.multiple_choice import commonsenseqa, copa, cosmosqa, hellaswag, socialiqa, xcopa
from tasks.sources.qa import mlqa, read_squad_json, squad, squad_v2, tydiqa, tydiqa_train, xquad
from tasks.sources.tagging import PANX_TAGS, UPOS_TAGS, ccg, panx, udpos
