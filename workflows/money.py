"""Exact money: a decimal amount and an ISO 4217 currency, never a float."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema, model_validator

# ISO 4217 active codes and their minor units (2 unless listed in the exception sets).
_ISO_4217 = set(
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP "
    "GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR "
    "KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK "
    "MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR "
    "SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS "
    "UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWG".split()
)
_ZERO_DECIMALS = set("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split())
_THREE_DECIMALS = set("BHD IQD JOD KWD LYD OMR TND".split())

# No single compensation is ever this large; anything above is a typo or an attack.
MAX_AMOUNT = Decimal("1000000")


def minor_units(currency: str) -> int:
    if currency in _ZERO_DECIMALS:
        return 0
    if currency in _THREE_DECIMALS:
        return 3
    return 2


def parse_currency(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in _ISO_4217:
        raise ValueError(f"unknown currency {value!r} (expected an ISO 4217 code such as USD)")
    return value.upper()


def parse_amount(value: Any) -> Decimal:
    """Amounts arrive as decimal strings ("12.50"); floats are refused because they are inexact."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError('amount must be a decimal string such as "12.50", not a float')
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"amount {value!r} is not a decimal number") from None
    else:
        raise ValueError('amount must be a decimal string such as "12.50"')
    if not amount.is_finite():
        raise ValueError("amount must be a finite number")
    if amount < 0:
        raise ValueError("amount must not be negative")
    if amount > MAX_AMOUNT:
        raise ValueError(f"amount {amount} is above the maximum of {MAX_AMOUNT}")
    return amount


def check_places(amount: Decimal, currency: str) -> None:
    """The one decimal rule for every amount of money (compensation, orders, policy limits): no more
    decimal places than the currency's minor unit. Raises ValueError."""
    exponent = amount.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if places > minor_units(currency):
        raise ValueError(f"{currency} amounts have at most {minor_units(currency)} decimal places, got {amount}")


def check_places_on_entry(amount: Decimal, currency: str) -> None:
    """`check_places` for values that were not held to it before (order amounts, policy limits):
    enforced wherever they enter (API, CLI, policy files), but a value already in a case's history
    is read as written inside the workflow, so no existing case fails its replay."""
    from temporalio import workflow

    if not workflow.in_workflow():
        check_places(amount, currency)


# The JSON schemas say what the validators accept, so the published OpenAPI is exact.
Currency = Annotated[
    str,
    BeforeValidator(parse_currency),
    WithJsonSchema({"type": "string", "enum": sorted(_ISO_4217), "description": "ISO 4217 code"}),
]
Amount = Annotated[
    Decimal,
    BeforeValidator(parse_amount),
    PlainSerializer(lambda d: str(d), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,7}(\.[0-9]{1,3})?$",
            "description": 'decimal string, e.g. "12.50"; never a float',
        }
    ),
]


class Money(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Amount
    currency: Currency

    @model_validator(mode="after")
    def _fits_currency(self) -> Money:
        check_places(self.amount, self.currency)
        return self

    def __str__(self) -> str:
        return f"{self.amount:.{minor_units(self.currency)}f} {self.currency}"


def zero(currency: str) -> Money:
    return Money(amount=Decimal(0), currency=currency)
