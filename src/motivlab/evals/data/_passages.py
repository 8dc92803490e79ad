"""Passages to summarise, assembled from templates and slot fillers written for motivlab.

Each filled template is one summarisation task; its sub-tasks ask for different summaries of
the same passage. The details are invented (no real people, places or studies).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class PassageKind:
    title: str
    categories: tuple[str, ...]
    template: str
    slots: dict[str, tuple[str, ...]]


SUMMARY_VARIANTS = (
    "Summarise it in one sentence.",
    "Summarise it in three bullet points.",
    "Summarise it for a ten-year-old.",
    "Summarise it in under thirty words.",
    "List the key facts and numbers it contains.",
)

KINDS: list[PassageKind] = [
    PassageKind(
        "Meeting notes: {project}", ("summarisation",),
        "The {team} team met on {day} to discuss {project}. {p1} reported that {status}. {p2} raised a concern "
        "about {concern}, noting that it had already caused {n} days of delay. After some discussion the group "
        "agreed to {decision}. {p1} will circulate a revised plan by {deadline}, and the next meeting is set for "
        "the following week.",
        dict(team=("design", "logistics", "support", "research", "marketing"),
             day=("Monday", "Tuesday", "Thursday"),
             project=("the new booking system", "the warehouse relocation", "the spring newsletter",
                      "the customer survey", "the office recycling scheme"),
             p1=("Mira", "Tomas", "Grace", "Odile"), p2=("Sven", "Priya", "Hugo", "Nadia"),
             status=("the first prototype is working", "two of five milestones are complete",
                     "the budget is ten percent under plan", "the supplier has confirmed the dates"),
             concern=("unclear ownership of testing", "a shortage of volunteers", "the late delivery of parts",
                      "conflicting holiday schedules"),
             n=("three", "five", "eight"),
             decision=("split the work into two phases", "hire a temporary assistant",
                       "drop the least important feature", "move the launch back by a month"),
             deadline=("Friday", "the end of the month", "next Wednesday")),
    ),
    PassageKind(
        "Local news: {event}", ("summarisation",),
        "The town of {town} held its {event} last weekend, drawing about {crowd} visitors despite {weather}. "
        "Organisers said the highlight was {highlight}. Local shops reported {sales}, while residents near the "
        "main square complained about {complaint}. The council has promised to review {review} before next "
        "year's edition.",
        dict(town=("Ashford Vale", "Port Merrin", "Lindqvist", "Hollowbrook"),
             event=("annual cheese fair", "kite festival", "street-food market", "vintage car parade",
                    "open-air film night"),
             crowd=("2,000", "4,500", "12,000"),
             weather=("heavy rain on Saturday", "unusually strong winds", "a brief power cut"),
             highlight=("a parade of hand-made lanterns", "a cooking contest between schools",
                        "a concert by a youth orchestra"),
             sales=("their busiest weekend of the year", "sales roughly double a normal weekend",
                    "mixed results"),
             complaint=("noise late into the night", "a lack of parking", "litter left in side streets"),
             review=("the parking arrangements", "the closing times", "the number of bins")),
    ),
    PassageKind(
        "Product review: {product}", ("summarisation",),
        "I have used the {product} every day for {period}. The best thing about it is {pro}. Setting it up took "
        "{setup}. On the downside, {con}, which became annoying after a while. Customer service answered my "
        "question within {response}. At {price} I think it is {verdict}.",
        dict(product=("Breeze 2 desk fan", "Nimbus coffee grinder", "TrailMate head torch", "Quill e-reader",
                      "Pocket weather station"),
             period=("two weeks", "three months", "half a year"),
             pro=("how quiet it is", "the long battery life", "how easy it is to clean", "its sturdy build"),
             setup=("less than five minutes", "about an hour", "two attempts"),
             con=("the buttons are small", "the cable is short", "it gets warm", "the app keeps logging me out"),
             response=("a day", "an hour", "a week"),
             price=("49 euros", "120 euros", "15 euros"),
             verdict=("good value", "slightly overpriced", "worth it for frequent users")),
    ),
    PassageKind(
        "Study abstract: {topic}", ("summarisation", "scientific"),
        "We studied {topic} in {n} {subjects} over {period}. Half were assigned to {treatment}; the other half "
        "continued as usual. The treated group showed {effect} compared with the control group. The effect was "
        "strongest in {subgroup}. Limitations include {limitation}. We conclude that {conclusion}, although "
        "larger studies are needed.",
        dict(topic=("the effect of daylight on sleep", "how watering schedules affect tomato yield",
                    "whether short breaks improve typing accuracy", "how music affects bread dough rising",
                    "the effect of shade on pond algae"),
             n=("40", "120", "300"), subjects=("volunteers", "plots", "samples"),
             period=("six weeks", "one growing season", "three months"),
             treatment=("the new routine", "the modified conditions", "the intervention"),
             effect=("a 12 percent improvement", "a small but consistent increase", "no clear difference"),
             subgroup=("the youngest participants", "the sunniest plots", "the first two weeks"),
             limitation=("the small sample", "that measurements were self-reported", "a single location"),
             conclusion=("the effect is real but modest", "the routine is worth testing further",
                         "the conditions matter less than expected")),
    ),
]


def fill(kind: PassageKind, rng: random.Random) -> tuple[str, str]:
    """Pick one filler per slot: (title, passage)."""
    values = {slot: rng.choice(options) for slot, options in kind.slots.items()}
    return kind.title.format(**values), kind.template.format(**values)
