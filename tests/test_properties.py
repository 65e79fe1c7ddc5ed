"""Property tests: whatever valid content and metadata go in come back out unchanged."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from memvault import Vault
from memvault.config import Settings
from memvault.model import normalize_content

# Text may hold tab and newlines but no other control character; names hold none.
TEXT_CONTROLS = "".join(chr(i) for i in range(32) if chr(i) not in "\t\n\r")
text_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters=TEXT_CONTROLS)
name_chars = st.characters(blacklist_categories=("Cs", "Cc"))
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=text_chars)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(name_chars, max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
contents = st.text(alphabet=text_chars, min_size=1, max_size=400).filter(lambda s: s.strip())


@pytest.fixture(scope="module")
def shared_vault(tmp_path_factory, embedder):
    path = tmp_path_factory.mktemp("prop")
    env = {"MEMVAULT_DATA_DIR": str(path)}
    v = Vault.open(f"sqlite://{path / 'p.db'}", settings=Settings.from_env(env), embedder=embedder)
    yield v
    v.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    content=contents,
    metadata=st.dictionaries(st.text(name_chars, max_size=10), json_values, max_size=5),
)
@example(content="0", metadata={"\\u0000": None})  # the text of a NUL escape, not a NUL
def test_content_and_metadata_round_trip(shared_vault, content, metadata):
    result = shared_vault.store(content, metadata=metadata, namespace="props")
    got = shared_vault.get(result.memory.id, namespace="props")
    assert got.content == result.memory.content
    if result.created:
        assert got.content == content
        assert got.metadata == metadata
    assert normalize_content(got.content) == normalize_content(content)
    assert shared_vault.get(got.content_hash, namespace="props").id == got.id
