"""Who ranks completions for the reward model: the `Labeler` interface, the simulated labeler the
demo uses, and the constraint checkers it (and evaluation) relies on."""

from rlhf.labelers.base import Labeler, comparison_record
from rlhf.data.constraints import CONSTRAINT_TYPES, check, satisfaction
from rlhf.labelers.simulated import MIN_NEW_WORDS, SimulatedLabeler, says_something

__all__ = ["CONSTRAINT_TYPES", "Labeler", "MIN_NEW_WORDS", "SimulatedLabeler", "check", "comparison_record",
           "satisfaction", "says_something"]
