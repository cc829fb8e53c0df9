"""Fictional word lists for the synthetic legacy data: names, titles, phrases, phone shapes.

Nothing here is real: names come from small generic lists, e-mails live under reserved example
domains (RFC 2606: example.org / example.net / example.com; not .test, which e-mail checks reject) and phone numbers use the
fictional 555-01xx block (and Ofcom's drama range for the UK). No value contains a tab, newline
or backslash (the generator adds web-form noise itself, see ``include.seed.generator``: NOISE_EMAIL,
NOISE_FIRST).
"""

from __future__ import annotations

FIRST_NAMES_FEMALE = (
    "Anna", "Maria", "Laura", "Sofia", "Emma", "Olivia", "Grace", "Clara", "Helen", "Julia",
    "Nora", "Ruth", "Alice", "Irene", "Lena", "Marta", "Paula", "Rosa", "Sara", "Vera",
    "Mary Ann", "Anna Lena", "Rose Marie", "Anne-Marie", "Zoë", "Chloé",
)
FIRST_NAMES_MALE = (
    "James", "John", "Peter", "Paul", "David", "Mark", "Thomas", "Daniel", "Samuel", "Henry",
    "Oscar", "Victor", "Felix", "Hugo", "Leon", "Martin", "Simon", "Tobias", "Adam", "Noah",
    "Jean Luc", "John Paul", "Jean-Paul", "José", "André",
)
LAST_NAMES = (
    "Smith", "Miller", "Carter", "Bennett", "Hughes", "Foster", "Porter", "Reed", "Brooks", "Hayes",
    "Coleman", "Ward", "Price", "Russell", "Perry", "Barnes", "Fisher", "Palmer", "Wells", "Lane",
    "Garcia", "Novak", "Silva", "Keller", "Berg", "Moreau", "Rossi", "Larsen", "Sato", "Weber",
)
#: Prefixes that appear in legacy ``users.name`` (the backfill strips them before splitting).
TITLES = ("Dr. ", "Mrs. ", "Mr. ", "Ms. ", "Miss ", "Prof. ")

PATIENT_DOMAINS = ("example.org", "example.net", "example.com", "mail.example.org")
CLINIC_WORDS = ("Harbor", "Valley", "Summit", "Lakeside", "Riverside", "Cedar", "Maple", "Northgate",
                "Westfield", "Oakridge", "Pinecrest", "Brookside")
CLINIC_KINDS = ("Genetics", "Oncology Clinic", "Health Partners", "Medical Group", "Family Practice")

#: US area codes combined with the fictional 555-0100..0199 block (valid for libphonenumber).
AREA_CODES = ("201", "212", "312", "415", "617", "718", "206", "303", "404", "512")

GENDERS = ("female", "male", "F", "M", "other", "Female", "unknown")
STREETS = ("Main St", "Oak Ave", "Elm St", "Park Rd", "Lake Dr", "Hill St", "River Rd", "Pine Ln")
CITIES = ("Springfield", "Riverton", "Fairview", "Lakewood", "Georgetown", "Franklin")

CUSTOM_MESSAGES = (
    "Please complete your genetic risk assessment before your next visit.",
    "Your clinician invites you to the Genascope assessment.",
    "Reminder: your assessment link is waiting.",
)
INVITE_METADATA = ('{"source": "portal"}', '{"source": "bulk_upload", "batch": 3}', '{"source": "api"}',
                   '{"source": "portal", "reminders": 2}')
SESSION_TYPES = ("assessment", "follow_up", "intake", "ASSESSMENT")
SESSION_METADATA = ('{"channel": "web"}', '{"channel": "mobile"}', '{"channel": "web", "lang": "en"}')
CHAT_ROLES = ("assistant", "user", "system")
CHAT_PHRASES = (
    "Hello, I will guide you through a few questions.",
    "Has anyone in your family been diagnosed with cancer?",
    "Yes, on my mother's side.",
    "Thank you. How old were they at diagnosis?",
    "I am not sure.",
    "That is fine, we can continue.",
    "Assessment complete. Your clinician will review the results.",
    "Session resumed.",
)


def _check_copy_safe() -> None:
    lists = (FIRST_NAMES_FEMALE, FIRST_NAMES_MALE, LAST_NAMES, TITLES, PATIENT_DOMAINS, CLINIC_WORDS,
             CLINIC_KINDS, GENDERS, STREETS, CITIES, CUSTOM_MESSAGES, INVITE_METADATA, SESSION_TYPES,
             SESSION_METADATA, CHAT_ROLES, CHAT_PHRASES)
    for words in lists:
        for word in words:
            if any(ch in word for ch in "\t\n\r\\"):
                raise ValueError("vocabulary entries must not contain tab, newline or backslash")


_check_copy_safe()
