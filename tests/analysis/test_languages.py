"""The language table covers every language of the task catalog."""

from tasks import catalog as task_catalog
from tasks import sources

from xstilts_jax.analysis import languages


def test_every_catalog_language_has_family_script_and_resource_class():
    catalog = {lang for name in dir(sources) if "LANGS" in name for lang in getattr(sources, name)}
    catalog |= {lang for target in task_catalog.TARGETS.values() for lang in target.languages}
    missing = sorted(lang for lang in catalog if lang not in languages.LANGUAGES)
    assert not missing, f"add {missing} to xstilts_jax/analysis/languages.py"
    assert all(languages.language(lang).resource_class in range(6) for lang in catalog)


def test_unknown_codes_are_reported_unlisted_not_guessed():
    entry = languages.language("xx")
    assert (entry.family, entry.script, entry.resource_level) == ("unlisted", "unlisted", "unlisted")
    assert languages.group_of("sw", "family") == "Niger-Congo"
