"""Looking a HF id up on the hub before transformers asks for its files: "offline" and "no such
model" are told apart, in one line and within seconds, where huggingface_hub would retry an
unreachable hub for half a minute or more and then say it could not connect either way."""
from __future__ import annotations

from typing import Optional

from ..config import ModelDiffError, first_line

# Seconds the look-up waits for the hub: one that does not answer this fast counts as offline.
LOOKUP_TIMEOUT = 4.0


def find_on_hub(repo_id: str, revision: Optional[str] = None) -> None:
    """Return when the hub has `repo_id` (at `revision`) or its config is in the local cache;
    otherwise raise ModelDiffError saying why. The endpoint and offline mode are
    huggingface_hub's own (HF_ENDPOINT, HF_HUB_OFFLINE), so this asks what loading would."""
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import (GatedRepoError, HFValidationError, HfHubHTTPError,
                                        OfflineModeIsEnabled, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    endpoint = constants.ENDPOINT
    offline = f"offline: cannot reach the hub to find {repo_id}"
    try:
        cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except HFValidationError as err:
        raise ModelDiffError(f"{repo_id} is not a valid HF id: {first_line(err)}") from None
    if isinstance(cached, str):
        return  # transformers reads it from the cache (and works offline)
    if constants.is_offline_mode():
        raise ModelDiffError(f"{offline} (HF_HUB_OFFLINE is set, and it is not in the local "
                             "cache)")
    try:
        HfApi(endpoint=endpoint).model_info(repo_id, revision=revision, timeout=LOOKUP_TIMEOUT)
    except GatedRepoError:  # a kind of RepositoryNotFoundError: caught first
        raise ModelDiffError(f"model {repo_id} is gated: ask for access on the hub, then log in "
                             "(hf auth login) or set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise _no_such(repo_id, endpoint) from None
    except RevisionNotFoundError:
        raise ModelDiffError(f"model {repo_id} has no revision {revision} on the hub") from None
    except OfflineModeIsEnabled:
        raise ModelDiffError(f"{offline} (HF_HUB_OFFLINE is set)") from None
    except HfHubHTTPError as err:
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status == 404:  # a mirror may answer a missing repo without the hub's error code
            raise _no_such(repo_id, endpoint) from None
        raise ModelDiffError(f"the hub at {endpoint} answered HTTP {status} when asked for "
                             f"{repo_id}: {first_line(err)[:200]}") from None
    except Exception as err:  # noqa: BLE001 - refused, no DNS, timed out, TLS: no answer at all
        raise ModelDiffError(f"{offline} at {endpoint} ({first_line(err)[:200]})") from None


def _no_such(repo_id: str, endpoint: str) -> ModelDiffError:
    return ModelDiffError(f"no such model: {repo_id} on the hub at {endpoint} (or it is private: "
                          "log in with hf auth login or set HF_TOKEN)")
