__version__ = "0.1.0"

#: Version of the plugin API: the hook specifications and the Component contract.
#: A plugin declares the one it was written for (``FLEXZOO_PLUGIN_API`` in its module).
PLUGIN_API_VERSION = 1
