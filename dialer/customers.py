"""Looking customers up for listings: filters, paging and the facts a listing shows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Integer, func, or_, select
from sqlalchemy.orm import Session, selectinload

from dialer.errors import NotFoundError, PhoneError
from dialer.models import Customer, CustomerPhone, ServiceEvent
from dialer.phones import mask_phone, parse_phone


@dataclass(frozen=True, slots=True)
class CustomerFilter:
    member: bool | None = None
    search: str | None = None
    import_run_id: int | None = None
    limit: int | None = 50
    offset: int = 0


def list_customers(session: Session, flt: CustomerFilter) -> Iterator[Customer]:
    """Customers in a stable order (by id) with their phones loaded, streamed for big listings."""
    query = (
        select(Customer)
        .options(selectinload(Customer.phones))
        .order_by(Customer.id)
        .offset(flt.offset)
    )
    if flt.limit is not None:
        query = query.limit(flt.limit)
    if flt.member is not None:
        query = query.where(Customer.member == flt.member)
    if flt.import_run_id is not None:
        query = query.where(Customer.last_import_run_id == flt.import_run_id)
    if flt.search:
        like = f"%{flt.search}%"
        query = query.where(or_(Customer.name.like(like), Customer.customer_key.like(like)))
    yield from session.scalars(query.execution_options(yield_per=1000))


def count_customers(session: Session) -> tuple[int, int]:
    """(all customers, members)."""
    total, members = session.execute(
        select(func.count(), func.coalesce(func.sum(func.cast(Customer.member, Integer)), 0))
    ).one()
    return int(total), int(members)


def find_customer(session: Session, ref: str, default_region: str) -> Customer:
    """A customer by key, by numeric id (#12) or by any of their phone numbers."""
    ref = ref.strip()
    found: Customer | None = session.scalars(
        select(Customer).where(Customer.customer_key == ref)
    ).first()
    if found is None and ref.startswith("#") and ref[1:].isdigit():
        found = session.get(Customer, int(ref[1:]))
    if found is None:
        try:
            e164 = parse_phone(ref, default_region).e164
        except PhoneError:
            e164 = None
        if e164 is not None:
            found = session.scalars(
                select(Customer)
                .join(CustomerPhone)
                .where(CustomerPhone.e164 == e164)
                .order_by(Customer.id)
            ).first()
    if found is None:
        raise NotFoundError(f"no customer matches {ref!r}")
    return found


def last_service(session: Session, customer_ids: Sequence[int]) -> dict[int, date]:
    if not customer_ids:
        return {}
    rows = session.execute(
        select(ServiceEvent.customer_id, func.max(ServiceEvent.service_date))
        .where(ServiceEvent.customer_id.in_(customer_ids))
        .group_by(ServiceEvent.customer_id)
    )
    return {cid: day for cid, day in rows}


def phone_view(e164: str, reveal: bool) -> str:
    return e164 if reveal else mask_phone(e164)
