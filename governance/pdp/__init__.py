"""The policy decision point: Casbin model and policy files in, decisions and obligations out.

Import from the submodules (``governance.pdp.engine``, ``governance.pdp.decision`` …): this
package imports nothing itself, so ``governance.pii`` can use ``governance.pdp.sources`` without
an import cycle through the engine.
"""
