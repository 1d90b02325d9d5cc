"""What a DAG file rendered for `--target kubernetes` carries when a command step with an image has
outputs: copied in by kubernetes.py after orch's helpers (read, not imported: rendering needs no airflow).

The step's pod is a plain container running its argv, so the image needs nothing (no python, no
shell). With `do_xcom_push` the provider mounts an emptyDir at /airflow/xcom in that container and
runs its XCom sidecar (alpine) on the same volume (utils/xcom_sidecar.py, `add_xcom_sidecar`).
ORCH_OUTPUTS is that folder, so the command writes output NAME to /airflow/xcom/NAME, as it writes
$ORCH_OUTPUTS/NAME on every backend. Once the container ended, the task runs READ_OUTPUTS in the
sidecar (it has sh and od), which prints each file's bytes in hex -- the exec stream decodes its text
as UTF-8 frame by frame, so raw bytes would not arrive intact -- and the task parses them by their
declared types as every backend does (`outputs_from_files`): a file not written or of the wrong type
fails the task, with orch's message in its log and in its orch_error XCom. The outputs go to XCom as
JSON text, as every task's do (runtime.py).
"""

import json
from contextlib import closing

from airflow.providers.cncf.kubernetes.kubernetes_helper_functions import generic_api_retry
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.utils.container import container_is_succeeded
from airflow.providers.cncf.kubernetes.utils.pod_manager import PodCommandException
from airflow.providers.cncf.kubernetes.utils.xcom_sidecar import PodDefaults
from airflow.sdk import get_current_context
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream as kubernetes_stream

from orch.backends.airflow.runtime import ERROR  # embedded: runtime
from orch.backends.steprun import StepError, printable  # embedded: steprun
from orch.core.typed import OutputError, outputs_from_files  # embedded: typed

# Run in the XCom sidecar as `sh -c READ_OUTPUTS sh FOLDER NAME...`: for each output '+NAME' and then its
# bytes in hex, or '-NAME' when no file holds it; '.' last, once every file was read.
READ_OUTPUTS = """cd "$1" || exit 1
shift
for name in "$@"; do
  if [ -f "$name" ]; then
    printf '+%s\\n' "$name"
    od -A n -t x1 -v "$name" || exit 1
  else
    printf '%s\\n' "-$name"
  fi
done
printf '.\\n'
"""


class CommandPod(KubernetesPodOperator):
    """A command step's pod, its outputs the files its command wrote to $ORCH_OUTPUTS (the XCom volume),
    read in the XCom sidecar in place of the provider's /airflow/xcom/return.json."""

    def __init__(self, *, orch_outputs, **kwargs):
        super().__init__(**kwargs)
        self.orch_outputs = orch_outputs  # name -> declared type

    def extract_xcom(self, pod, *, ignore_kill_failure=True):
        """The step's outputs as JSON text; None when its container failed, for which the provider then
        fails the task (its cleanup, after this)."""
        try:
            if not container_is_succeeded(self.pod_manager.read_pod(pod), self.base_container_name):
                return None
            printed, errors = self.orch_read_outputs(pod)
        finally:
            self.orch_stop_sidecar(pod, ignore_kill_failure)
        try:
            return json.dumps(self.orch_outputs_of(printed, self.orch_outputs, errors))
        except StepError as err:
            get_current_context()["ti"].xcom_push(key=ERROR, value=str(err))
            raise

    @generic_api_retry
    def orch_read_outputs(self, pod):
        """What READ_OUTPUTS prints in the sidecar, and what it says on stderr."""
        command = ["/bin/sh", "-c", READ_OUTPUTS, "sh", PodDefaults.XCOM_MOUNT_PATH, *self.orch_outputs]
        with closing(kubernetes_stream(self.client.connect_get_namespaced_pod_exec, pod.metadata.name,
                                       pod.metadata.namespace, container=PodDefaults.SIDECAR_CONTAINER_NAME,
                                       command=command, stdin=False, stdout=True, stderr=True, tty=False,
                                       _preload_content=False)) as client:
            client.run_forever()
            return client.read_stdout(), client.read_stderr()

    def orch_stop_sidecar(self, pod, ignore_kill_failure):
        """End the sidecar, as the provider's own extract_xcom does."""
        try:
            self.pod_manager.extract_xcom_kill(pod)
        except (PodCommandException, ApiException) as err:
            if not ignore_kill_failure:
                raise
            self.log.warning("Failed to kill xcom sidecar container in pod %s, leaving it running: %s",
                             pod.metadata.name, err)

    @staticmethod
    def orch_outputs_of(printed, declared, errors=""):
        """The `declared` outputs from what READ_OUTPUTS printed; StepError when it could not read them all,
        or when one was not written or does not match its type (the same texts as on every backend)."""
        lines = printed.splitlines()
        if lines[-1:] != ["."]:
            reason = printable(errors.strip()) or "it stopped before the end"
            raise StepError(f"the outputs could not be read in the pod's XCom sidecar: {reason}")
        files, name = {}, None
        for line in lines[:-1]:
            if line.startswith(("+", "-")):
                name = line[1:]
                files[name] = bytearray() if line[0] == "+" else None
            else:
                files[name] += bytes.fromhex(line)
        try:
            return outputs_from_files(files, declared)
        except OutputError as err:
            raise StepError(str(err)) from None
