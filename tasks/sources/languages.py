"""The languages of each multilingual source, as XTREME and XTREME-R evaluate them."""

from __future__ import annotations

# XTREME (Hu et al. 2020): google-research/xtreme `evaluate.py`, TASK2LANGS.
UDPOS_LANGS_XTREME: tuple[str, ...] = tuple(
    "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh".split()
)
PANX_LANGS_XTREME: tuple[str, ...] = tuple(
    "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw yo my zh "
    "kk tr et fi hu".split()
)
XQUAD_LANGS_XTREME: tuple[str, ...] = tuple("ar de el en es hi ru th tr vi zh".split())
MLQA_LANGS: tuple[str, ...] = tuple("ar de en es hi vi zh".split())
TYDIQA_LANGS: tuple[str, ...] = tuple("ar bn en fi id ko ru sw te".split())
# XTREME-R (Ruder et al. 2021): google-research/xtreme `utils_preprocess.py`, UDPOS_LANGUAGES and
# PANX_LANGUAGES (the same lists `scripts/download_data.sh` downloads; UD v2.7 instead of v2.5).
UDPOS_LANGS_XTREME_R: tuple[str, ...] = UDPOS_LANGS_XTREME + ("lt", "pl", "uk", "wo", "ro")
PANX_LANGS_XTREME_R: tuple[str, ...] = PANX_LANGS_XTREME + ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro")
XQUAD_LANGS_XTREME_R: tuple[str, ...] = tuple(sorted(XQUAD_LANGS_XTREME + ("ro",)))
XNLI_LANGS: tuple[str, ...] = tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())
PAWSX_LANGS: tuple[str, ...] = ("de", "en", "es", "fr", "ja", "ko", "zh")
# google-research/xtreme `scripts/download_data.sh` (download_xcopa) and `scripts/train_xcopa.sh`.
XCOPA_LANGS: tuple[str, ...] = tuple("et ht id it qu sw ta th tr vi zh".split())
