"""The vocabulary of PII types shared by the catalog, the obligations and the detectors."""

from __future__ import annotations

# Entities of Presidio's predefined English recognizers (presidio-analyzer 2.2.366). A unit test
# compares this list with Presidio's registry, so an upgrade that changes it is noticed.
PRESIDIO_ENTITIES: frozenset[str] = frozenset(
    {
        "CREDIT_CARD",
        "CRYPTO",
        "DATE_TIME",
        "EMAIL_ADDRESS",
        "IBAN_CODE",
        "IP_ADDRESS",
        "LOCATION",
        "MAC_ADDRESS",
        "MEDICAL_LICENSE",
        "NRP",
        "ORGANIZATION",
        "PERSON",
        "PHONE_NUMBER",
        "UK_NHS",
        "URL",
        "US_BANK_NUMBER",
        "US_DRIVER_LICENSE",
        "US_ITIN",
        "US_PASSPORT",
        "US_SSN",
        "UUID",
    }
)

NOT_PII = "NONE"
"""A column that holds no personal data."""

FREE_TEXT = "FREE_TEXT"
"""Text that may contain any PII; redacting it scrubs what the analyzer finds."""

UNKNOWN = "UNKNOWN"
"""A column nobody has classified yet; it gets the policy's default action."""

SPECIAL_TYPES: frozenset[str] = frozenset({NOT_PII, FREE_TEXT, UNKNOWN})
