__version__ = "0.2.0"  # flexzoo 0.2 implements plugin API 2

#: Version of the plugin API: the hook specifications and the Component contract.
#: A plugin declares the one it was written for (``FLEXZOO_PLUGIN_API`` in its module).
PLUGIN_API_VERSION = 2
#: Plugin APIs this host still loads; API 1 (compressors that take ``manifest`` and import
#: ``flexzoo.training``) is accepted with a DeprecationWarning until flexzoo 0.3.
SUPPORTED_PLUGIN_APIS = (1, 2)
DEPRECATED_PLUGIN_APIS = {1: "plugin API 1 is deprecated and will not load in flexzoo 0.3: import only from "
                             "flexzoo.plugin, take `context: StepContext` instead of `manifest` "
                             "(docs/plugins.md, 'Moving from API 1')"}
