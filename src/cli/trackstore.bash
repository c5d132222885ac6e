# bash completion for trackstore: commands, shm's subcommands and each
# command's options. The words come from the tool itself
# (`trackstore __complete WORD...` lists what may follow WORD...), so that
# they cannot drift from the program; an argument completes as a file name.
_trackstore() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local listed
  listed=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null) ||
    return 0
  local commands=() options=() word
  for word in $listed; do
    if [[ $word == -* ]]; then options+=("$word"); else commands+=("$word"); fi
  done
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${options[*]}" -- "$cur")
  elif ((${#commands[@]} > 0)); then
    mapfile -t COMPREPLY < <(compgen -W "${commands[*]}" -- "$cur")
  else
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}
complete -F _trackstore trackstore
