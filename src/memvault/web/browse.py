"""Signing in, browsing and searching memories, and one memory: read, edit, delete.

``/`` lists the newest memories of a namespace, a page at a time (the store's
cursor); with a query it shows the Vault's hybrid search, ``PAGE`` hits a
page, each with the parts of its score and the part of the memory that
matched. A search page asks the Vault for exactly the hits up to its end, so
it costs what that search costs.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from ..access.principal import Principal
from ..errors import Unauthorized
from ..model import Hit
from .deps import VaultDep, chosen_namespace, namespace_counts, number, scope_filter, text
from .render import PageRoute, page, query_string, see_other
from .session import checked_form, need, sign_in, sign_out
from .text import excerpt

PAGE = 20
MAX_RESULTS = 1000
SIMILAR = 5

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Form = Annotated[FormData, Depends(checked_form)]


@router.get("/signin")
def signin_page(request: Request, next: str = "/") -> Response:
    return page(request, "signin.html", next=next if next.startswith("/") else "/")


@router.post("/signin")
def signin(request: Request, form: Form) -> Response:
    target = text(form, "next", "/")
    response = see_other(target if target.startswith("/") and not target.startswith("//") else "/")
    try:
        sign_in(request, response, text(form, "key"))
    except Unauthorized as exc:
        return page(request, "signin.html", status=401, next=target, error=exc.message)
    return response


@router.post("/signout")
def signout(form: Form) -> Response:
    response = see_other("/signin")
    sign_out(response)
    return response


@router.get("/")
def browse(
    request: Request,
    vault: VaultDep,
    principal: Annotated[Principal, need("read")],
    q: str = "",
    ns: str = "",
    tags: str = "",
    type: str = "",
    after: str = "",
    before: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    cursor: str | None = None,
) -> Response:
    namespace = chosen_namespace(vault, principal, ns)
    flt = scope_filter(tags, type, after, before)
    form = {"q": q, "ns": namespace, "tags": tags, "type": type, "after": after, "before": before}
    context: dict[str, Any] = {
        "form": form,
        "namespaces": namespace_counts(request, vault, principal),
        "query": q.strip(),
    }
    if q.strip():
        wanted = min(page_number * PAGE, MAX_RESULTS)
        hits = vault.search(q, k=wanted, namespace=namespace, filter=flt)
        shown = hits[(page_number - 1) * PAGE : wanted]
        context.update(
            results=[_result(vault, hit, q) for hit in shown],
            page_number=page_number,
            more=len(hits) == wanted and wanted < MAX_RESULTS,
        )
    else:
        listing = vault.list(namespace=namespace, filter=flt, limit=PAGE, cursor=cursor)
        context.update(
            memories=listing.memories, next_cursor=listing.next_cursor, first_page=cursor is None
        )
    return page(request, "browse.html", **context)


def _result(vault: Any, hit: Hit, query: str) -> dict[str, Any]:
    """A hit as shown: the matching part of a long memory, marked, and which part it is."""
    parts = vault.chunks(hit.memory) if hit.chunk_index else [hit.memory.content]
    index = hit.chunk_index or 0
    return {
        "hit": hit,
        "excerpt": excerpt(parts[index] if index < len(parts) else hit.memory.content, query),
        "part": index + 1 if hit.chunk_index else None,
        "parts": len(parts),
    }


@router.get("/memories/{memory_id}")
def memory_page(
    request: Request,
    memory_id: str,
    vault: VaultDep,
    principal: Annotated[Principal, need("read")],
    ns: str = "",
) -> Response:
    namespace = chosen_namespace(vault, principal, ns)
    memory = vault.get(memory_id, namespace=namespace)
    return page(
        request,
        "memory.html",
        memory=memory,
        ns=namespace,
        chunks=vault.chunks(memory),
        similar=vault.similar(memory.id, k=SIMILAR, namespace=namespace),
    )


@router.post("/memories/{memory_id}/edit")
def edit_memory(
    memory_id: str,
    vault: VaultDep,
    principal: Annotated[Principal, need("write")],
    form: Form,
    ns: str = "",
) -> Response:
    namespace = chosen_namespace(vault, principal, ns)
    vault.update(
        memory_id,
        namespace=namespace,
        tags=[t for t in text(form, "tags").split(",") if t.strip()],
        memory_type=text(form, "memory_type") or None,
        importance=number(form, "importance"),
    )
    return see_other(f"/memories/{quote(memory_id)}" + query_string({"ns": namespace, "saved": 1}))


@router.get("/memories/{memory_id}/delete")
def confirm_delete(
    request: Request,
    memory_id: str,
    vault: VaultDep,
    principal: Annotated[Principal, need("write")],
    ns: str = "",
) -> Response:
    namespace = chosen_namespace(vault, principal, ns)
    return page(
        request, "delete.html", memory=vault.get(memory_id, namespace=namespace), ns=namespace
    )


@router.post("/memories/{memory_id}/delete")
def delete_memory(
    memory_id: str,
    vault: VaultDep,
    principal: Annotated[Principal, need("write")],
    form: Form,
    ns: str = "",
) -> Response:
    namespace = chosen_namespace(vault, principal, ns)
    vault.delete(memory_id, namespace=namespace)
    return see_other("/" + query_string({"ns": namespace, "deleted": memory_id}))
