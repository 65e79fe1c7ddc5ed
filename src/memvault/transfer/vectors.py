"""Which vectors a migration writes: the source's copied, or new ones from the local model.

A target holds vectors of one model, so the choice is made once, before
anything moves, from the models both sides hold.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import IncompatibleEmbedding
from ..model import EmbeddingSpec


def plan_vectors(
    have: EmbeddingSpec | None,
    want: EmbeddingSpec | None,
    local: Callable[[], EmbeddingSpec],
    *,
    reembed: bool,
) -> tuple[EmbeddingSpec, str]:
    """The model the target's vectors will be of, and how the report says they were made.

    ``have`` is the source's model, ``want`` the target's (None while it holds
    none); ``local`` gives the local model's, asked only when it is needed, since
    it may open the model.
    """
    if reembed:
        spec = local()
        if want is not None and want != spec:
            raise IncompatibleEmbedding(
                f"target holds {want.model} vectors ({want.dimension} dimensions) but the "
                f"local model is {spec.model} ({spec.dimension}): it cannot re-embed "
                f"into this target",
                field="embedding_model",
            )
        return spec, f"re-embedded with {spec.model}"
    if have is None:
        # Nothing to copy: whatever the source lacks is embedded with the local model.
        return want or local(), f"computed with {local().model}"
    if want is None or have == want:
        return have, f"copied ({have.model})"
    raise IncompatibleEmbedding(
        f"source vectors are {have.model} ({have.dimension} dimensions) but the target "
        f"holds {want.model} ({want.dimension}): pass --reembed to compute new vectors "
        f"with the local model",
        field="embedding_model",
    )
