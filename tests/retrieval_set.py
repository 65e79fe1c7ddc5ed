"""A small retrieval test set with known answers, written for memvault's tests.

Each query names the memory that must rank first. Three kinds of query:

- ``CODES``: an exact rare token (order number, serial, invoice) that a
  sentence embedding cannot tell from its near neighbours;
- ``PARAPHRASES``: the same meaning in other words, sharing no content word
  with the answer, so word matching alone cannot find it;
- ``PLAIN``: ordinary questions where words and meaning agree.

The memories include near misses for each answer (another order, another
pet, another Alice preference) so that ranking first means something.
"""

from __future__ import annotations

MEMORIES: dict[str, str] = {
    "router-order": "Order XK-9042 for the replacement router shipped on Tuesday via DHL.",
    "router-order-2": "The replacement router order was placed on Monday; the old one keeps "
    "dropping the connection.",
    "router-order-b": "Order XK-9024 for the spare router shipped on Thursday via UPS.",
    "switch-order": "Order XK-9104 for two network switches is still waiting for approval.",
    "monitor-delivery": "The DHL delivery of the new monitors arrived with a cracked screen.",
    "laptop-serial": "The laptop serial number is C02XK1ZJH7, needed for warranty claims.",
    "laptop-serial-b": "The old laptop's serial number was C02XK1ZJG5; it went back for a refund.",
    "phone-serial": "The work phone was registered under the asset tag AT-5531.",
    "tablet-serial": "The tablet was registered under the asset tag AT-5513.",
    "invoice": "Invoice INV-77310 from Acme Corp is overdue by two weeks.",
    "invoice-b": "Invoice INV-77130 from Acme Corp was paid in full last week.",
    "invoice-2": "Acme Corp sent a reminder that two invoices are due at the end of the month.",
    "tabs": "Alice prefers tabs over spaces and sets her tab width to four columns.",
    "alice-tea": "Alice drinks green tea in the afternoon and dislikes coffee.",
    "peanuts": "Bob is allergic to peanuts, so the team lunch must avoid satay and pad thai.",
    "lunch-friday": "Team lunch is on Friday at the Thai place around the corner.",
    "billing-db": "We decided to use PostgreSQL instead of MongoDB for the billing service "
    "because we need transactions.",
    "analytics-db": "The analytics pipeline writes Parquet files to object storage every night.",
    "cat": "I adopted a grey cat named Pixel from the shelter last spring.",
    "neighbour-dog": "My neighbour's dog barks whenever the mail arrives.",
    "freeze": "Deploys are frozen from December 20 until January 3.",
    "release-train": "Releases go out every second Wednesday after the QA sign-off.",
    "cello": "The user is learning to play the cello and practises every evening.",
    "concert": "We bought tickets for a jazz concert at the Blue Note next month.",
    "carlos": "Carlos speaks Portuguese and Spanish fluently.",
    "carlos-home": "Carlos moved to Porto two years ago.",
    "vite": "Moving the frontend from Webpack to Vite cut build times from 90 seconds to 12.",
    "ci-cache": "The CI cache for node_modules is keyed by the lockfile hash.",
    "lease": "The apartment lease ends on June 30th; the landlord wants 60 days notice.",
    "rent": "Rent is paid by bank transfer on the first of every month.",
    "marathon": "The user runs marathons and is training for the Berlin race in September.",
    "gym": "The gym near the office opens at six in the morning.",
    "wifi": "The office Wi-Fi network is called Nebula-5G; the password is on the fridge.",
    "priya": "Priya leads the mobile team and reviews every iOS pull request.",
    "rate-limit": "The API allows free accounts 60 requests per minute.",
    "car": "My car is a 2015 Honda Civic with 120,000 miles on it.",
    "sla": "Our SLA promises 99.9% uptime to enterprise customers.",
    "offsite": "The company offsite will be in Lisbon this year.",
    "coffee": "I take my coffee black, with no sugar.",
    "flaky-test": "The flaky test test_upload_resume fails when the temp directory is on NFS.",
}

CODES: dict[str, str] = {
    "XK-9042": "router-order",
    "status of XK-9042": "router-order",
    "Which router order is XK-9042?": "router-order",
    "serial C02XK1ZJH7": "laptop-serial",
    "C02XK1ZJH7": "laptop-serial",
    "INV-77310": "invoice",
    "AT-5531": "phone-serial",
    "What was registered as AT-5531?": "phone-serial",
    "Is INV-77310 paid?": "invoice",
    "test_upload_resume": "flaky-test",
}

PARAPHRASES: dict[str, str] = {
    "Which pet do I own?": "cat",
    "What instrument is being studied?": "cello",
    "When are we not allowed to ship to production?": "freeze",
    "What is my vehicle?": "car",
    "Who checks iPhone app code changes?": "priya",
    "What languages can Carlos converse in?": "carlos",
}

PLAIN: dict[str, str] = {
    "How does Alice indent code?": "tabs",
    "Which database did we choose for billing?": "billing-db",
    "What should the team lunch avoid because of allergies?": "peanuts",
    "How fast is the frontend build now?": "vite",
    "How much notice does the landlord need before I move out?": "lease",
    "Which race is the user training for?": "marathon",
    "What is the office wifi called?": "wifi",
    "How many requests can a free account make?": "rate-limit",
    "What uptime do enterprise customers get?": "sla",
    "Where is the company offsite this year?": "offsite",
    "How do I take my coffee?": "coffee",
}
