"""The shipped list of ``keras.applications`` architectures (``applications.json``): ``zoo list`` without keras.

Those keras's torch backend builds; kept true to the installed keras by the plugin's tests; regenerate it
after changing the keras requirement::

    python -m flexzoo_plugin_keras.model_list --write
"""

from __future__ import annotations

import sys
from pathlib import Path

from flexzoo.plugin.helpers import Listing, ShippedList

#: Architectures keras refuses to build on its torch backend (it says so when asked).
NOT_ON_TORCH = ("NASNetLarge", "NASNetMobile")


def _installed(shipped: Listing) -> Listing:
    from flexzoo_plugin_keras.backend import import_keras

    keras = import_keras()
    return Listing(keras.__version__,
                   tuple(sorted(n for n in dir(keras.applications) if n[:1].isupper() and n not in NOT_ON_TORCH)))


APPLICATIONS = ShippedList("keras", Path(__file__).with_name("applications.json"), "flexzoo_plugin_keras.model_list",
                           _installed)

if __name__ == "__main__":
    sys.exit(APPLICATIONS.main())
