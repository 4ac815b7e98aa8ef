"""The rules layer: fires on what it documents, respects negation, only ever raises."""

import pytest

from triage import SEVERITIES, Signals, apply_rules


@pytest.mark.parametrize(("text", "rule"), [
    ("I have instructed my solicitor.", "legal_threat"),
    ("I will take legal action next week.", "legal_threat"),
    ("I am going to sue you.", "legal_threat"),
    ("See you in court.", "legal_threat"),
    ("I have complained to the Financial Ombudsman.", "legal_threat"),
    ("Reported to Trading Standards today.", "legal_threat"),
    ("I will file a complaint with the FCA.", "legal_threat"),
    ("Mein Anwalt wird sich melden.", "legal_threat"),
    ("Je vais porter plainte auprès de la DGCCRF.", "legal_threat"),
    ("He contactado con mi abogado.", "legal_threat"),
    ("My son was injured by the toy.", "injury_safety"),
    ("The charger caught fire overnight.", "injury_safety"),
    ("I got an electric shock from the kettle.", "injury_safety"),
    ("She was taken to hospital.", "injury_safety"),
    ("Der Akku hat Feuer gefangen und mein Sohn ist verletzt.", "injury_safety"),
    ("Mi hijo está herido.", "injury_safety"),
    ("The cable is sparking, it is unsafe.", "injury_safety"),
    ("My account was hacked last night.", "data_breach"),
    ("I can see someone else's data in my account.", "data_breach"),
    ("This is a data breach.", "data_breach"),
    ("I think my email address leaked from your systems.", "data_breach"),
    ("Mon compte a été piraté.", "data_breach"),
    ("There is an outage, the service is down for everyone.", "outage"),
    ("I cannot access the website at all.", "outage"),
    ("If this is not fixed by Friday I will go to the ombudsman.", "legal_threat"),
    ("If you do not refund me I will sue.", "legal_threat"),
    ("My dad was rushed to hospital after eating the soup.", "injury_safety"),
    ("The whole street has had no power since noon.", "outage"),
    ("She has burns on her fingers from the charger.", "injury_safety"),
    ("He needed stitches in his chin after the shelf fell.", "injury_safety"),
])
def test_rule_fires(text: str, rule: str) -> None:
    outcome = apply_rules(text, "low")
    assert rule in outcome.fired
    assert outcome.severity in ("high", "critical")
    assert outcome.escalate == (outcome.severity == "critical")  # a raise to high alone does not


@pytest.mark.parametrize("text", [
    "The delivery was late but no one was hurt, obviously.",
    "Nobody was injured, the parcel was simply late.",
    "Sue from your team was very helpful.",
    "The washing machine leaked water on the floor.",
    "Your staff should not be rude to customers.",
    "I bought another brand last time.",
    "It was not dangerous, just annoying.",
    "Please refund me the 20 pounds.",
    "The website was slow yesterday.",
    "Niemand wurde verletzt, das Paket kam nur zu spät.",
    # hypothetical, supposed or feared, not stated
    "Someone could get hurt on that step one day.",
    "I hope I will never need a lawyer for a parking permit.",
    "I thought for a moment my account had been hacked, but my son found the setting.",
    # quoted, reported from the news, or a routine request
    'The newsletter headline said "data breach" and scared my mother.',
    "> My solicitor will be in touch.",
    "I heard on the radio about a data breach at another phone company.",
    "Please add my solicitor's address to the account as a second contact.",
    "I hold a lasting power of attorney for my father's account.",
    "Please move my hospital appointment reminder to the new number.",
    "We replaced the smoke alarms in the flat last month.",
    # negated anywhere in the clause
    "I have no reason to think the account has been hacked.",
    "I am not going to take you to court over twenty pounds.",
    # a condition or a figure of speech, not harm done
    "My brother has a spinal injury, so please deliver to the ground floor.",
    "The tour guide had the whole coach in stitches.",
    "We fitted smoke and carbon monoxide alarms in every flat.",
    "The hotspot burned through my phone data in two days.",
    "Please restock the burns gel in our first aid kits.",
    "My husband keeps joking that the router has been hacked.",
    "Im Fernsehen hieß es „Datenleck bei der Bank“, deshalb frage ich nach.",
])
def test_rule_does_not_fire(text: str) -> None:
    outcome = apply_rules(text, "low")
    assert outcome.fired == ()
    assert outcome.severity == "low"
    assert not outcome.escalate


@pytest.mark.parametrize("severity", SEVERITIES)
def test_rules_never_lower(severity: str) -> None:
    for text in ("I will call my lawyer.", "The website was slow.", "There is an outage."):
        outcome = apply_rules(text, severity)
        assert SEVERITIES.index(outcome.severity) >= SEVERITIES.index(severity)


def test_legal_threat_raises_to_critical() -> None:
    assert apply_rules("My solicitor will write to you.", "medium").severity == "critical"


def test_outage_raises_to_high_only() -> None:
    outcome = apply_rules("Major outage again.", "low")
    assert outcome.severity == "high"
    assert not outcome.escalate
    assert apply_rules("Major outage again.", "critical").severity == "critical"


def test_on_fire_raises_to_high_only() -> None:
    """As often a figure of speech ("knocked as if the house was on fire") as a fire."""
    outcome = apply_rules("The socket was on fire for a moment.", "low")
    assert (outcome.fired, outcome.severity, outcome.escalate) == (
        ("injury_safety",), "high", False)


def test_outage_for_many_escalates() -> None:
    outcome = apply_rules("The whole street has had no power since noon.", "low")
    assert (outcome.fired, outcome.severity, outcome.escalate) == (("outage",), "critical", True)


def test_recurring_customer_is_third_complaint() -> None:
    assert apply_rules("x", "low", Signals(recent_complaints_30d=1)).fired == ()
    outcome = apply_rules("x", "low", Signals(recent_complaints_30d=2))
    assert outcome.fired == ("recurring_customer",)
    assert outcome.severity == "high"
    assert outcome.escalate  # SPEC: the third complaint in 30 days escalates at once


def test_category_spike() -> None:
    outcome = apply_rules("x", "medium", Signals(category_spike=True))
    assert outcome.fired == ("category_spike",)
    assert outcome.severity == "high"
    assert not outcome.escalate  # raises to high only


def test_each_rule_named_once() -> None:
    outcome = apply_rules("It caught fire and it is dangerous. Hospital.", "low")
    assert outcome.fired == ("injury_safety",)
