"""Department pages (`/department` on `lgsp serve`): where department staff send their files, read
each submission's receipt, fix what was quarantined, and see their datasets' status.

Behind the same staff login as the admin pages (lgsp.sharing.admin), scoped to the staff
member's department, Vietnamese first with an English switch, and usable on a phone. An upload
goes through the same pipeline as a file dropped into the inbox.
"""
