"""What a training run gives its ``AudioClassificationBrain`` besides the
hparams: settings that come from the run's data, not from the YAML.

SpeechBrain builds a Brain from ``modules``, ``opt_class``, ``hparams``
(the YAML), ``run_opts`` (the command line's device, DDP, precision...)
and ``checkpointer``; ``RunSettings`` is the one further argument, so
that nothing is set on the Brain after it is built.

Authors
 * AST-SpeechBrain contributors 2026
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class RunSettings:
    """A run's settings that its data decide, passed to the Brain once.

    Arguments
    ---------
    label_names : tuple of str or None
        The classes in the order of the head's outputs; they name the
        per-class metrics, reports and stored teacher outputs.
    after_training_share : float
        Clips scored after training (the test, the teacher's draws) per
        validation clip: the time a ``time_budget`` keeps for them.
    train_sampler : object or None
        The training sampler whose ``set_epoch`` the Brain calls before
        each epoch (SpeechBrain's ``train_sampler``): the sampler given in
        the training loader's options, or a loader given to ``fit`` as it
        is (a ``ShardLoader``).
    keep_random_state : bool
        Whether the checkpoints hold the random generators' state, so that
        a run resumed inside an epoch draws what it would have drawn
        (``ast_lobes.training.checkpoints.keep_random_state``).

    Example
    -------
    >>> settings = RunSettings(label_names=("dog", "rain"))
    >>> settings.label_names, settings.after_training_share
    (('dog', 'rain'), 1.0)
    """

    label_names: tuple = None
    after_training_share: float = 1.0
    train_sampler: object = None
    keep_random_state: bool = False
