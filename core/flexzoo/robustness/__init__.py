"""How a model holds up: ImageNet-C corruptions, adversarial attacks (torchattacks) and their evaluation.

:mod:`~flexzoo.robustness.corruptions` (numpy and scipy), :mod:`~flexzoo.robustness.attacks` (FGSM and PGD in
pixel space, the preprocessing inside the attacked function) and :mod:`~flexzoo.robustness.evaluation`
(accuracy clean, per corruption and severity, per epsilon; mean corruption error) are used by ``zoo evaluate``
and by adversarial training (``[train.adversarial]``).
"""
