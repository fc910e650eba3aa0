"""Run by the Label Studio environment's Python (not ours): creates labeler accounts in a Label
Studio data directory and prints each one's personal access token as JSON {email: token}.

Label Studio offers no API to mint a token for another user (an admin's token acts as the admin),
so the tests make one per labeler through Label Studio's own models, as its `user` command would.
Usage: LABEL_STUDIO_BASE_DATA_DIR=DIR python ls_users.py EMAIL [EMAIL ...]
"""

import json
import os
import sys
from pathlib import Path

import label_studio

sys.path.insert(0, str(Path(label_studio.__file__).parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.label_studio")

import django  # noqa: E402

django.setup()

from jwt_auth.models import LSAPIToken  # noqa: E402
from organizations.models import Organization  # noqa: E402
from users.models import User  # noqa: E402

tokens = {}
org = Organization.objects.first()
for email in sys.argv[1:]:
    user = User.objects.filter(email=email).first() or User.objects.create_user(email=email, password=email)
    if org is None:  # the first account owns the organization, as `label-studio start --username` makes it
        org = Organization.create_organization(created_by=user, title="Label Studio")
    else:
        org.add_user(user)
    user.active_organization = org
    user.save(update_fields=["active_organization"])
    tokens[email] = LSAPIToken.for_user(user).get_full_jwt()
print(json.dumps(tokens))
