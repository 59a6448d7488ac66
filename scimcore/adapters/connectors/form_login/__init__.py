"""``form_login``: sign in to a service's admin pages the way a person does, and manage
its members there, for services without an API (docs/connectors/form-login.md).

Modules, each named for what it holds: :mod:`.recipe` (a service described as data,
validated on load), :mod:`.html` (the page parser, selectors and forms),
:mod:`.cookies` (one sign-in's cookie jar), :mod:`.credential` (the administrator's
login as an ``Auth``), :mod:`.session` (pages, redirects and the sign-in) and
:mod:`.connector` (the connector contract on top).
"""

from .connector import RECIPE_SETTING, FormLoginConnector, recipe_of, sign_in_blocker
from .credential import FormLoginAuth
from .recipe import Recipe, RecipeError, load_recipe

__all__ = [
    "RECIPE_SETTING",
    "FormLoginAuth",
    "FormLoginConnector",
    "Recipe",
    "RecipeError",
    "load_recipe",
    "recipe_of",
    "sign_in_blocker",
]
